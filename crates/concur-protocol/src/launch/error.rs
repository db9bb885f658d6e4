//! Why a launch was refused, and which HTTP status class each refusal belongs to.
//!
//! Messages name parameters but never carry a value: the query holds the signature, the
//! nonce and the `client_auth_code`, and the MAC key holds the password.

use super::Product;
use super::item_url::ItemUrlError;

/// The HTTP status family a refusal maps to; the HTTP layer picks the page and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// 400 Bad Request: the query string cannot be read as a launch.
    Malformed,
    /// 401 Unauthorized: the signature does not prove the launch came from Concur.
    SignatureMismatch,
    /// 403 Forbidden: the launch is genuine but points somewhere we will not go.
    Forbidden,
}

/// One variant per way a launch query can fail verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    /// Status 400. Checked before anything else is read, so parsing cost stays bounded.
    #[error("query string is {got} bytes long, the limit is {limit}")]
    QueryTooLong { limit: usize, got: usize },

    /// Status 400. A stray `%`, a `%` without two hex digits, or bytes that are not UTF-8 after
    /// decoding. Carries the parameter name, or `"parameter name"` when a name was broken.
    #[error("parameter {0} is not valid percent-encoded utf-8")]
    InvalidEncoding(String),

    /// Status 400. A signed parameter (or `signature`) is absent.
    #[error("required parameter {0} is missing")]
    MissingParameter(&'static str),

    /// Status 400. A parameter this protocol version knows appears more than once; for signed
    /// ones this is parameter pollution (docs/protocol.md T6).
    #[error("parameter {0} appears more than once")]
    DuplicateParameter(&'static str),

    /// Status 400. A v4 query names owner parameters of both products (`report_owner_*` and
    /// `request_owner_*`): which values were signed is ambiguous, so neither set is tried.
    #[error(
        "the query names owner parameters of both Concur Expense (report_owner_*) and Concur Request (request_owner_*)"
    )]
    MixedOwnerFamilies,

    /// Status 400. A v4 query names no owner parameter of either product.
    #[error(
        "the query names no owner parameter: report_owner_user_id (Concur Expense) or request_owner_user_id (Concur Request) is required"
    )]
    NoOwnerFamily,

    /// Status 400. A parameter arrives under its name and under an accepted alias (the
    /// misspelling `repquest_owner_employee_id` of Concur's Request example) at once.
    #[error("parameter {name} is sent twice, also as its alias {alias}")]
    BothSpellings {
        name: &'static str,
        alias: &'static str,
    },

    /// Status 400. The signature is not base64 in either alphabet.
    #[error("signature is not base64")]
    BadSignatureEncoding,

    /// Status 401. The signature decodes, but to the wrong number of bytes for this version's
    /// hash (a SHA-1 MAC on a v4 launch, a hex string, a truncated value).
    #[error("signature decodes to {got} bytes, expected {expected}")]
    BadSignatureLength { expected: usize, got: usize },

    /// Status 401. No accepted reading of the query reproduces the signature.
    #[error("signature mismatch: check the connector user name and password registered in Concur")]
    SignatureMismatch,

    /// Status 400. An unsigned parameter has a value outside its documented format.
    #[error("parameter {name} is invalid: {reason}")]
    InvalidParameter {
        name: &'static str,
        reason: &'static str,
    },

    /// Status 400. A signed value matched the MAC but lacks its documented shape (a v4 user id
    /// that is not a UUID, an empty company domain or nonce). The MAC covers the values
    /// concatenated without separators, so characters can be moved from one signed value to
    /// its neighbour without breaking it; the shape checks refuse most such shifted splits.
    #[error("signed parameter {name} is invalid: {reason}")]
    InvalidSignedValue {
        name: &'static str,
        reason: &'static str,
    },

    /// Status 400. The signed item URL is recognisably an item of one product (a report's
    /// or a travel request's) while the owner parameter names say the other. The names are
    /// not signed, so the item URL wins and the launch is refused rather than reinterpreted.
    #[error("the item url addresses a Concur {} item, but the launch carries Concur {} owner parameters", .item.as_str(), .launched.as_str())]
    ItemOfOtherProduct { launched: Product, item: Product },

    /// Status 403. The signed item URL points outside the allowed hosts, so no token may go there.
    #[error("item url refused: {0}")]
    ItemUrlNotAllowed(#[from] ItemUrlError),
}

impl LaunchError {
    /// The HTTP status family of this refusal.
    pub fn class(&self) -> ErrorClass {
        match self {
            LaunchError::QueryTooLong { .. }
            | LaunchError::InvalidEncoding(_)
            | LaunchError::MissingParameter(_)
            | LaunchError::DuplicateParameter(_)
            | LaunchError::MixedOwnerFamilies
            | LaunchError::NoOwnerFamily
            | LaunchError::BothSpellings { .. }
            | LaunchError::BadSignatureEncoding
            | LaunchError::InvalidParameter { .. }
            | LaunchError::InvalidSignedValue { .. }
            | LaunchError::ItemOfOtherProduct { .. } => ErrorClass::Malformed,
            LaunchError::BadSignatureLength { .. } | LaunchError::SignatureMismatch => {
                ErrorClass::SignatureMismatch
            }
            LaunchError::ItemUrlNotAllowed(_) => ErrorClass::Forbidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_length_counts_as_a_mismatch_and_bad_base64_as_malformed() {
        let wrong = LaunchError::BadSignatureLength {
            expected: 32,
            got: 20,
        };
        assert_eq!(wrong.class(), ErrorClass::SignatureMismatch);
        assert_eq!(
            LaunchError::BadSignatureEncoding.class(),
            ErrorClass::Malformed
        );
        assert_eq!(
            LaunchError::ItemUrlNotAllowed(ItemUrlError::NotHttps).class(),
            ErrorClass::Forbidden
        );
    }
}
