//! The worked examples of protocol §14, shared by the unit tests of this module.
