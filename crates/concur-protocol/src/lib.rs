//! concur-protocol: SAP Concur's wire formats as pure code (no I/O, no clock).
