//! Launch verification: raw query in, [`VerifiedLaunch`] out only when Concur's MAC matches.
//!
//! Pure by design (no clock, no I/O, no logging), so every outcome is a fixed function of
//! the query and the credentials and can be unit-tested with the vectors of docs/protocol.md §14. The
//! signer in `sign.rs` is deliberately not used here: a mistake shared by both sides would
//! otherwise cancel out.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::Sha256;
use url::Url;

use super::item_url::ItemUrlPolicy;
use super::query::{self, ValueEncoding};
use super::{LaunchError, Product, Source, Version, params, shape};
use crate::credentials::ConnectorCredentials;
use crate::item::ItemRef;

/// Standard alphabet with optional padding; the URL-safe alphabet is mapped onto it first.
pub(super) const SIGNATURE_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The parameters of one protocol version (and, for v4, one product), in the order the
/// message needs them.
pub(super) struct Spec {
    /// Signed names in message order (the nonce is last and goes after the credentials),
    /// then `signature`, then the unsigned names, then accepted aliases.
    pub names: &'static [&'static str],
    pub signed: usize,
    /// Position of the item URL among the signed names.
    pub item: usize,
    pub mac_len: usize,
    pub product: Product,
    /// `(alias, canonical)` positions in `names`: a value sent under the alias is read as
    /// the canonical one; both at once are refused.
    pub aliases: &'static [(usize, usize)],
}

impl Spec {
    pub fn signature_index(&self) -> usize {
        self.signed
    }
}

/// v4 for Concur Expense (docs/protocol.md §5.1, §5.2): six signed values, then the
/// signature, then the six unsigned ones.
pub(super) const V4_EXPENSE: Spec = Spec {
    names: &[
        "company_domain",
        "logged_in_user_id",
        "report_owner_user_id",
        "report_owner_employee_id",
        "item_url",
        "nonce",
        "signature",
        "custom_field_launched_from",
        "source",
        "expense_ids",
        "is_mobile",
        "client_auth_code",
        "language_code",
    ],
    signed: 6,
    item: 4,
    mac_len: 32,
    product: Product::Expense,
    aliases: &[],
};

/// v4 for Concur Request (docs/protocol.md §12.5): the Expense positions with the request
/// owner's names, `request_ids` for `expense_ids`, and the misspelling of Concur's example
/// URL accepted for the owner's employee id.
pub(super) const V4_REQUEST: Spec = Spec {
    names: &[
        "company_domain",
        "logged_in_user_id",
        "request_owner_user_id",
        "request_owner_employee_id",
        "item_url",
        "nonce",
        "signature",
        "custom_field_launched_from",
        "source",
        "request_ids",
        "is_mobile",
        "client_auth_code",
        "language_code",
        "repquest_owner_employee_id",
    ],
    signed: 6,
    item: 4,
    mac_len: 32,
    product: Product::Request,
    aliases: &[(13, 3)],
};

/// v1 (docs/protocol.md §4.1, §4.2): four signed values and the signature.
pub(super) const V1: Spec = Spec {
    names: &["xcompanydomain", "xuserid", "itemurl", "nonce", "signature"],
    signed: 4,
    item: 2,
    mac_len: 20,
    product: Product::Expense,
    aliases: &[],
};

/// Every owner parameter name of either v4 product, Expense's first.
const OWNER_NAMES: [&str; 5] = [
    "report_owner_user_id",
    "report_owner_employee_id",
    "request_owner_user_id",
    "request_owner_employee_id",
    "repquest_owner_employee_id",
];

/// Which v4 spec a query uses, decided by the owner parameter names present (either of a
/// product's owner names, empty or not, counts): one product's names → its spec; both
/// products' names → `MixedOwnerFamilies`; none → `NoOwnerFamily` (docs/protocol.md §12.5).
pub(super) fn v4_spec(raw_query: &str) -> Result<&'static Spec, LaunchError> {
    let found = query::pick(raw_query, &OWNER_NAMES)?;
    let (expense, request) = found.split_at(2);
    match (
        expense.iter().any(Option::is_some),
        request.iter().any(Option::is_some),
    ) {
        (true, false) => Ok(&V4_EXPENSE),
        (false, true) => Ok(&V4_REQUEST),
        (true, true) => Err(LaunchError::MixedOwnerFamilies),
        (false, false) => Err(LaunchError::NoOwnerFamily),
    }
}

/// Positions of v4 values in `V4_EXPENSE.names` (the same in `V4_REQUEST.names`).
mod v4_index {
    /// `report_owner_user_id` (Expense) or `request_owner_user_id` (Request), signed.
    pub const OWNER_USER: usize = 2;
    pub const CUSTOM_FIELD: usize = 7;
    pub const SOURCE: usize = 8;
    /// `expense_ids` (Expense) or `request_ids` (Request).
    pub const ITEM_IDS: usize = 9;
    pub const IS_MOBILE: usize = 10;
    pub const CLIENT_AUTH_CODE: usize = 11;
    pub const LANGUAGE: usize = 12;
}

/// How the query string that verified was encoded in transit; worth a log line when it
/// is not the plain RFC 3986 reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transport {
    /// Which percent-decoding reading reproduced the MAC.
    pub encoding: ValueEncoding,
    /// The item URL still looked encoded after one decoding (docs/protocol.md T2) and was decoded a
    /// second time.
    pub item_url_encoded_twice: bool,
}

/// A launch whose signature matched and whose item URL is allowed.
///
/// Fields are private and there is no constructor: holding one proves verification
/// succeeded. Debug output hides the nonce and the `client_auth_code`.
pub struct VerifiedLaunch {
    version: Version,
    product: Product,
    company_domain: String,
    user_id: String,
    report_owner_user_id: Option<String>,
    report_owner_employee_id: Option<String>,
    item_url: Url,
    nonce: String,
    source: Source,
    custom_field_launched_from: Option<String>,
    expense_ids: Vec<String>,
    is_mobile: bool,
    client_auth_code: Option<SecretString>,
    language: String,
    transport: Transport,
    /// The MAC bytes that matched, for [`VerifiedLaunch::replay_key`].
    mac: Vec<u8>,
}

impl VerifiedLaunch {
    pub fn version(&self) -> Version {
        self.version
    }

    /// Which product's owner parameter names carried the signed values; `Expense` on v1.
    ///
    /// The names are not signed: the MAC covers the values only, so one signature verifies
    /// under either product's names. What it can tell is therefore only which names Concur
    /// (or whoever renamed them) used; the item URL decides what is read and written, and a
    /// recognisable item URL of the other product is refused at verification.
    pub fn product(&self) -> Product {
        self.product
    }

    /// `company_domain` (v4) or `xcompanydomain` (v1), signed.
    pub fn company_domain(&self) -> &str {
        &self.company_domain
    }

    /// The interactive user, signed: v4 `logged_in_user_id` (a UUID, possibly a delegate)
    /// or v1 `xuserid` (a login id).
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The owner's user UUID, signed: v4 `report_owner_user_id` (Expense) or
    /// `request_owner_user_id` (Request); `None` on v1.
    pub fn report_owner_user_id(&self) -> Option<&str> {
        self.report_owner_user_id.as_deref()
    }

    /// The owner's employee id, signed, free text: v4 `report_owner_employee_id` (Expense)
    /// or `request_owner_employee_id` (Request, alias `repquest_owner_employee_id`). `None`
    /// on v1 and when Concur sent it empty (Concur does not document that case: the MAC then
    /// covers the empty string, the launch is accepted, and the empty text is not passed on
    /// as if it were an id).
    pub fn report_owner_employee_id(&self) -> Option<&str> {
        self.report_owner_employee_id.as_deref()
    }

    /// The signed item URL, fully decoded and on an allowed host.
    pub fn item_url(&self) -> &Url {
        &self.item_url
    }

    /// The signed nonce. Never log it.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The key under which the replay store remembers this launch: the version and the hex
    /// of the MAC that matched.
    ///
    /// Not the (company domain, nonce) pair: the MAC covers the signed values concatenated
    /// without separators, so a character moved from one value to its neighbour (say from
    /// the user id to the company domain) keeps the signature valid while changing the
    /// domain, and each such split would count as a fresh launch. The MAC bytes cannot be
    /// changed without the connector's password, and every reading of one launch (either
    /// percent-encoding, either base64 alphabet, with or without padding) yields the same
    /// bytes, so one genuine launch has exactly one key.
    pub fn replay_key(&self) -> String {
        let version = match self.version {
            Version::V1 => "v1",
            Version::V4 => "v4",
        };
        let hex: String = self.mac.iter().map(|b| format!("{b:02x}")).collect();
        format!("{version}|{hex}")
    }

    /// v4 `source` (unsigned, or inferred from the item URL); always `Entry` on v1.
    pub fn source(&self) -> Source {
        self.source
    }

    /// v4 `custom_field_launched_from`, unsigned and opaque.
    pub fn custom_field_launched_from(&self) -> Option<&str> {
        self.custom_field_launched_from.as_deref()
    }

    /// v4 `expense_ids` (Expense) or `request_ids` (Request), unsigned; empty when absent.
    pub fn expense_ids(&self) -> &[String] {
        &self.expense_ids
    }

    /// v4 `is_mobile`, unsigned; false when absent and on v1.
    pub fn is_mobile(&self) -> bool {
        self.is_mobile
    }

    /// v4 `client_auth_code`, unsigned, single-use OAuth2 code.
    pub fn client_auth_code(&self) -> Option<&SecretString> {
        self.client_auth_code.as_ref()
    }

    /// Moves the `client_auth_code` out so it is exchanged once and not kept around.
    pub fn take_client_auth_code(&mut self) -> Option<SecretString> {
        self.client_auth_code.take()
    }

    /// v4 `language_code` normalised to `xx` or `xx-XX`; `en` when absent and on v1.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// How the query was encoded in transit.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Everything a session needs to keep, without the signature and the auth code.
    pub fn context(&self) -> LaunchContext {
        LaunchContext {
            version: self.version,
            product: self.product,
            company_domain: self.company_domain.clone(),
            user_id: self.user_id.clone(),
            report_owner_user_id: self.report_owner_user_id.clone(),
            report_owner_employee_id: self.report_owner_employee_id.clone(),
            item_url: self.item_url.to_string(),
            nonce: self.nonce.clone(),
            source: self.source,
            custom_field_launched_from: self.custom_field_launched_from.clone(),
            expense_ids: self.expense_ids.clone(),
            is_mobile: self.is_mobile,
            language: self.language.clone(),
            transport: self.transport,
        }
    }
}

impl fmt::Debug for VerifiedLaunch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedLaunch")
            .field("context", &self.context())
            .field(
                "client_auth_code",
                &self.client_auth_code.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// The verified launch as plain data, for a server-side session (possibly in Redis).
///
/// Holds no signature and no `client_auth_code`. Debug output hides the nonce; the
/// serialised form does not, because the session store is server-side.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchContext {
    pub version: Version,
    /// Absent in sessions stored before Concur Request launches existed: those are Expense.
    #[serde(default)]
    pub product: Product,
    pub company_domain: String,
    pub user_id: String,
    /// The owner of the report (Expense) or of the request (Request).
    pub report_owner_user_id: Option<String>,
    /// The employee id of the owner of the report (Expense) or of the request (Request).
    pub report_owner_employee_id: Option<String>,
    /// Checked against the allow-list at verification; parse with `Url::parse`.
    pub item_url: String,
    pub nonce: String,
    pub source: Source,
    pub custom_field_launched_from: Option<String>,
    /// `expense_ids` (Expense) or `request_ids` (Request).
    pub expense_ids: Vec<String>,
    pub is_mobile: bool,
    pub language: String,
    pub transport: Transport,
}

impl fmt::Debug for LaunchContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaunchContext")
            .field("version", &self.version)
            .field("product", &self.product)
            .field("company_domain", &self.company_domain)
            .field("user_id", &self.user_id)
            .field("report_owner_user_id", &self.report_owner_user_id)
            .field("report_owner_employee_id", &self.report_owner_employee_id)
            .field("item_url", &self.item_url)
            .field("nonce", &"[REDACTED]")
            .field("source", &self.source)
            .field(
                "custom_field_launched_from",
                &self.custom_field_launched_from,
            )
            .field("expense_ids", &self.expense_ids)
            .field("is_mobile", &self.is_mobile)
            .field("language", &self.language)
            .field("transport", &self.transport)
            .finish()
    }
}

/// Verifies a v4 launch (HMAC-SHA256, docs/protocol.md §5.2) from the raw query string (bytes after `?`).
///
/// The product is read from the owner parameter names (docs/protocol.md §12.5): Expense's
/// `report_owner_*` or Request's `request_owner_*`; the signed message is the same six
/// positions with that product's owner values.
pub fn verify_v4(
    raw_query: &str,
    creds: &ConnectorCredentials,
    hosts: &ItemUrlPolicy,
) -> Result<VerifiedLaunch, LaunchError> {
    let spec = v4_spec(raw_query)?;
    let parsed = Parsed::new(spec, raw_query)?;
    let key = Zeroizing::new(creds.hmac_key());
    let mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac accepts keys of any length");
    let matched = parsed.find_match(&mac, creds)?;
    let item_url = hosts.check(&matched.item_url)?;
    same_product(spec.product, &item_url)?;

    let unsigned = |index: usize| -> Result<Option<Cow<'_, str>>, LaunchError> {
        parsed.decoded(index, matched.transport.encoding)
    };
    let source = params::source(unsigned(v4_index::SOURCE)?.as_deref(), &item_url)?;
    let expense_ids = params::item_ids(
        spec.names[v4_index::ITEM_IDS],
        unsigned(v4_index::ITEM_IDS)?.as_deref(),
    )?;
    let is_mobile = params::is_mobile(unsigned(v4_index::IS_MOBILE)?.as_deref())?;
    let language = params::language(unsigned(v4_index::LANGUAGE)?.as_deref())?;
    let custom_field_launched_from = unsigned(v4_index::CUSTOM_FIELD)?.map(Cow::into_owned);
    let client_auth_code =
        unsigned(v4_index::CLIENT_AUTH_CODE)?.map(|code| SecretString::from(code.into_owned()));

    let [company_domain, user_id, owner_id, employee_id, _item, nonce] = matched.values;
    shape::non_blank("company_domain", &company_domain)?;
    shape::uuid("logged_in_user_id", &user_id)?;
    shape::uuid(spec.names[v4_index::OWNER_USER], &owner_id)?;
    shape::non_blank("nonce", &nonce)?;
    Ok(VerifiedLaunch {
        version: Version::V4,
        product: spec.product,
        company_domain,
        user_id,
        report_owner_user_id: Some(owner_id),
        // Free text chosen by the client: any value, the empty one included, is accepted.
        report_owner_employee_id: Some(employee_id).filter(|id| !id.is_empty()),
        item_url,
        nonce,
        source,
        custom_field_launched_from,
        expense_ids,
        is_mobile,
        client_auth_code,
        language,
        transport: matched.transport,
        mac: matched.mac,
    })
}

/// Verifies a v1 launch (HMAC-SHA1, docs/protocol.md §4.2) from the raw query string (bytes after `?`).
pub fn verify_v1(
    raw_query: &str,
    creds: &ConnectorCredentials,
    hosts: &ItemUrlPolicy,
) -> Result<VerifiedLaunch, LaunchError> {
    let parsed = Parsed::new(&V1, raw_query)?;
    let key = Zeroizing::new(creds.hmac_key());
    let mac = Hmac::<Sha1>::new_from_slice(&key).expect("hmac accepts keys of any length");
    let matched = parsed.find_match(&mac, creds)?;
    let item_url = hosts.check(&matched.item_url)?;
    same_product(V1.product, &item_url)?;

    let [company_domain, user_id, _item, nonce] = matched.values;
    // v1 `xuserid` is a login id (free text, often an e-mail address), so it only has to
    // be present; shifted splits of v1 launches are stopped by the replay key.
    shape::non_blank("xcompanydomain", &company_domain)?;
    shape::non_blank("xuserid", &user_id)?;
    shape::non_blank("nonce", &nonce)?;
    Ok(VerifiedLaunch {
        version: Version::V1,
        product: Product::Expense,
        company_domain,
        user_id,
        report_owner_user_id: None,
        report_owner_employee_id: None,
        item_url,
        nonce,
        source: Source::Entry,
        custom_field_launched_from: None,
        expense_ids: Vec::new(),
        is_mobile: false,
        client_auth_code: None,
        language: params::DEFAULT_LANGUAGE.to_owned(),
        transport: matched.transport,
        mac: matched.mac,
    })
}

/// Refuses an item URL recognisably of the other product than the parameter names say.
///
/// The MAC covers the values only, so a launch signed for one product still verifies with
/// its owner parameters renamed to the other's. The item URL is signed and decides which
/// API is read and written; the names only decide which values form the message. An item
/// URL of no known shape is left to the reader (it fails there, docs/protocol.md §6.1).
fn same_product(launched: Product, item_url: &Url) -> Result<(), LaunchError> {
    match ItemRef::parse(item_url.as_str()).map(|item| item.product()) {
        Some(item) if item != launched => Err(LaunchError::ItemOfOtherProduct { launched, item }),
        _ => Ok(()),
    }
}

/// Reads `raw_query` the way both verifiers do, up to the MAC check, decoding every value
/// both ways; the outcome is thrown away. Exists for the fuzz targets (not an API).
#[doc(hidden)]
pub fn read_query(raw_query: &str) {
    let _ = query::pick(raw_query, V4_EXPENSE.names);
    let _ = v4_spec(raw_query);
    for spec in [&V4_EXPENSE, &V4_REQUEST, &V1] {
        let Ok(parsed) = Parsed::new(spec, raw_query) else {
            continue;
        };
        let _ = parsed.signature();
        for encoding in ValueEncoding::ALL {
            let _ = parsed.signed_values(encoding);
            for index in 0..spec.names.len() {
                let _ = parsed.decoded(index, encoding);
            }
        }
        if let Ok(readings) = parsed.readings() {
            assert!(
                !readings.is_empty(),
                "a readable query has at least one reading"
            );
        }
    }
}

/// The raw values of one launch query, with every signed value and the signature present.
pub(super) struct Parsed<'q> {
    spec: &'static Spec,
    raw: Vec<Option<&'q str>>,
}

/// The reading that reproduced the MAC, with its decoded signed values.
struct Matched<const N: usize> {
    values: [String; N],
    /// Fully decoded, whichever reading matched.
    item_url: String,
    transport: Transport,
    /// The signature's bytes, equal to the MAC of `values`.
    mac: Vec<u8>,
}

impl<'q> Parsed<'q> {
    /// Steps 1 and 2 of docs/protocol.md §5.3: split, refuse duplicates and missing signed
    /// parameters; a value under an alias moves to its canonical name.
    pub fn new(spec: &'static Spec, raw_query: &'q str) -> Result<Self, LaunchError> {
        let mut raw = query::pick(raw_query, spec.names)?;
        for &(alias, canonical) in spec.aliases {
            if let Some(value) = raw[alias].take() {
                if raw[canonical].is_some() {
                    return Err(LaunchError::BothSpellings {
                        name: spec.names[canonical],
                        alias: spec.names[alias],
                    });
                }
                raw[canonical] = Some(value);
            }
        }
        for (name, value) in spec.names.iter().zip(&raw).take(spec.signed + 1) {
            if value.is_none() {
                return Err(LaunchError::MissingParameter(name));
            }
        }
        Ok(Self { spec, raw })
    }

    /// Step 4 of docs/protocol.md §5.3: the signature's bytes, which must have the hash's length.
    pub fn signature(&self) -> Result<Vec<u8>, LaunchError> {
        let signature = SIGNATURE_BASE64
            .decode(self.signature_text()?.as_bytes())
            .map_err(|_| LaunchError::BadSignatureEncoding)?;
        if signature.len() == self.spec.mac_len {
            Ok(signature)
        } else {
            Err(LaunchError::BadSignatureLength {
                expected: self.spec.mac_len,
                got: signature.len(),
            })
        }
    }

    /// The decoded signature text in the standard alphabet: a form decoder may have
    /// turned `+` into space, and URL-safe base64 uses `-` and `_` (docs/protocol.md T5).
    pub fn signature_text(&self) -> Result<String, LaunchError> {
        let index = self.spec.signature_index();
        let decoded = self
            .decoded(index, ValueEncoding::Rfc3986)?
            .unwrap_or_default();
        Ok(decoded
            .chars()
            .map(|c| match c {
                ' ' | '-' => '+',
                '_' => '/',
                other => other,
            })
            .collect())
    }

    /// The raw, still-encoded value at `index` in the spec's names.
    pub fn raw(&self, index: usize) -> Option<&'q str> {
        self.raw[index]
    }

    /// The value at `index` decoded with `encoding`; `None` when absent or empty.
    pub fn decoded(
        &self,
        index: usize,
        encoding: ValueEncoding,
    ) -> Result<Option<Cow<'q, str>>, LaunchError> {
        let Some(raw) = self.raw[index].filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        query::decode(raw, encoding)
            .map(Some)
            .map_err(|_| LaunchError::InvalidEncoding(self.spec.names[index].to_owned()))
    }

    /// The signed values decoded with `encoding`, in message order; absent ones are empty
    /// (they cannot be absent after `new`, but diagnostics share this path).
    pub fn signed_values(&self, encoding: ValueEncoding) -> Result<Vec<Cow<'q, str>>, LaunchError> {
        (0..self.spec.signed)
            .map(|i| Ok(self.decoded(i, encoding)?.unwrap_or_default()))
            .collect()
    }

    /// Whether the form reading can differ from the RFC 3986 one for a signed value.
    pub fn signed_values_contain_plus(&self) -> bool {
        self.raw[..self.spec.signed]
            .iter()
            .any(|v| v.is_some_and(|v| v.contains('+')))
    }

    /// Steps 3, 5, 6 and 7 of docs/protocol.md §5.3, plus the T2 twice-decoded item URL.
    fn find_match<M: Mac + Clone, const N: usize>(
        &self,
        keyed: &M,
        creds: &ConnectorCredentials,
    ) -> Result<Matched<N>, LaunchError> {
        let signature = self.signature()?;
        let password = creds.password();
        for reading in self.readings()? {
            let parts = message_parts(&reading.values, creds.username(), password.expose_secret());
            let mut mac = keyed.clone();
            parts.iter().for_each(|part| mac.update(part));
            if mac.verify_slice(&signature).is_ok() {
                return Ok(reading.into_matched(self.spec.item, signature));
            }
        }
        Err(LaunchError::SignatureMismatch)
    }

    /// Every accepted reading of the signed values, in the order they are tried: the
    /// RFC 3986 reading, the form reading (only when a raw `+` makes it differ), then the
    /// same with the item URL decoded a second time when it still looked encoded.
    fn readings(&self) -> Result<Vec<Reading<'q>>, LaunchError> {
        let encodings: &[ValueEncoding] = if self.signed_values_contain_plus() {
            &ValueEncoding::ALL
        } else {
            &ValueEncoding::ALL[..1]
        };
        let item = self.spec.item;
        let mut once = Vec::with_capacity(encodings.len());
        for &encoding in encodings {
            let values = self.signed_values(encoding)?;
            let still_encoded = query::still_encoded_url(&values[item]);
            once.push(Reading {
                encoding,
                values,
                still_encoded,
                decoded_twice: false,
            });
        }
        // The inner layer may use the other encoding than the outer one, and a raw `+`
        // only shows up after the first decoding.
        let mut twice = Vec::new();
        for reading in once.iter().filter(|r| r.still_encoded) {
            let inner_encodings = if reading.values[item].contains('+') {
                &ValueEncoding::ALL[..]
            } else {
                &ValueEncoding::ALL[..1]
            };
            for &inner in inner_encodings {
                let Ok(item_url) = query::decode(&reading.values[item], inner) else {
                    continue;
                };
                let mut values = reading.values.clone();
                values[item] = Cow::Owned(item_url.into_owned());
                twice.push(Reading {
                    values,
                    decoded_twice: true,
                    ..*reading
                });
            }
        }
        once.extend(twice);
        Ok(once)
    }
}

/// One candidate reading of the signed values.
struct Reading<'q> {
    encoding: ValueEncoding,
    values: Vec<Cow<'q, str>>,
    /// The once-decoded item URL still looked encoded (docs/protocol.md T2).
    still_encoded: bool,
    /// `values` holds the twice-decoded item URL.
    decoded_twice: bool,
}

impl Reading<'_> {
    fn into_matched<const N: usize>(self, item: usize, mac: Vec<u8>) -> Matched<N> {
        let value = &self.values[item];
        let item_url = if self.still_encoded && !self.decoded_twice {
            // Concur signed the still-encoded text; the API call needs the real URL. A `+`
            // is a legal path character, so the inner layer is read as RFC 3986.
            query::decode(value, ValueEncoding::Rfc3986)
                .map_or_else(|_| value.to_string(), Cow::into_owned)
        } else {
            value.to_string()
        };
        let values: Vec<String> = self.values.into_iter().map(Cow::into_owned).collect();
        Matched {
            values: values
                .try_into()
                .expect("each spec lists as many signed names as its destructuring expects"),
            item_url,
            transport: Transport {
                encoding: self.encoding,
                item_url_encoded_twice: self.still_encoded,
            },
            mac,
        }
    }
}

/// The signed message of docs/protocol.md §4.2 / docs/protocol.md §5.2 as a sequence of byte slices, so the password is
/// fed to the MAC without being copied into a message buffer: the signed values but the
/// nonce, the exact-case user name, the exact password, the nonce.
pub(super) fn message_parts<'a>(
    values: &'a [Cow<'_, str>],
    username: &'a str,
    password: &'a str,
) -> Vec<&'a [u8]> {
    let Some((nonce, leading)) = values.split_last() else {
        return vec![username.as_bytes(), password.as_bytes()];
    };
    let mut parts: Vec<&[u8]> = leading.iter().map(|v| v.as_bytes()).collect();
    parts.extend([username.as_bytes(), password.as_bytes(), nonce.as_bytes()]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::ErrorClass;
    use crate::launch::sign::{Encoding, V1Launch, V4Launch, v4_query};
    use crate::launch::vectors::*;

    fn concur() -> ItemUrlPolicy {
        ItemUrlPolicy::concur_only()
    }

    fn v4(query: &str) -> Result<VerifiedLaunch, LaunchError> {
        verify_v4(query, &ex2_creds(), &concur())
    }

    #[test]
    fn accepts_example_1_v1() {
        let launch = verify_v1(query(EX1_URL), &ex1_creds(), &concur()).unwrap();
        assert_eq!(launch.version(), Version::V1);
        assert_eq!(launch.company_domain(), "acmecorp.com");
        assert_eq!(launch.user_id(), "jane.doe@acmecorp.com");
        assert_eq!(launch.item_url().as_str(), EX1_ITEM_URL);
        assert_eq!(launch.nonce(), EX1_NONCE);
        assert_eq!(launch.source(), Source::Entry);
        assert_eq!(launch.report_owner_user_id(), None);
        assert_eq!(launch.language(), "en");
        assert!(!launch.is_mobile());
        assert!(launch.client_auth_code().is_none());
        assert_eq!(
            launch.transport(),
            Transport {
                encoding: ValueEncoding::Rfc3986,
                item_url_encoded_twice: false
            }
        );
    }

    #[test]
    fn accepts_example_2_v4_entry_with_all_its_values() {
        let launch = v4(query(EX2_URL)).unwrap();
        assert_eq!(launch.version(), Version::V4);
        assert_eq!(launch.company_domain(), "acmecorp.com");
        assert_eq!(launch.user_id(), EX2_USER_ID);
        assert_eq!(launch.report_owner_user_id(), Some(EX2_USER_ID));
        assert_eq!(launch.report_owner_employee_id(), Some("E12345"));
        assert_eq!(launch.item_url().as_str(), EX2_ITEM_URL);
        assert_eq!(launch.nonce(), EX2_NONCE);
        assert_eq!(launch.source(), Source::Entry);
        assert_eq!(launch.custom_field_launched_from(), Some("custom12"));
        assert!(launch.expense_ids().is_empty());
        assert!(!launch.is_mobile());
        assert_eq!(
            launch.client_auth_code().map(|c| c.expose_secret()),
            Some(EX2_AUTH_CODE)
        );
        assert_eq!(launch.language(), "en-GB");
    }

    #[test]
    fn accepts_example_3_allocation_by_a_delegate_with_an_awkward_employee_id() {
        let launch = v4(query(EX3_URL)).unwrap();
        assert_eq!(launch.user_id(), EX3_DELEGATE_ID);
        assert_eq!(launch.report_owner_user_id(), Some(EX2_USER_ID));
        assert_eq!(launch.report_owner_employee_id(), Some(EX3_EMPLOYEE_ID));
        assert_eq!(launch.item_url().as_str(), EX3_ITEM_URL);
        assert_eq!(launch.source(), Source::Allocation);
        assert_eq!(
            launch.expense_ids(),
            [
                "29EE3C62F5D844458828A5C1086072D1",
                "84FCBB92BD4E5342B849DAC29FD163A1"
            ]
        );
        assert!(launch.is_mobile());
        assert_eq!(launch.language(), "de");
        assert_eq!(launch.transport().encoding, ValueEncoding::Rfc3986);
    }

    #[test]
    fn accepts_example_3_with_the_employee_id_form_encoded() {
        let form = query(EX3_URL).replace(EX3_EMPLOYEE_ID_RFC3986, EX3_EMPLOYEE_ID_FORM);
        let launch = v4(&form).unwrap();
        assert_eq!(launch.report_owner_employee_id(), Some(EX3_EMPLOYEE_ID));
        assert_eq!(launch.transport().encoding, ValueEncoding::Form);
    }

    #[test]
    fn accepts_a_signature_whose_plus_signs_travel_raw() {
        // A raw `+` in the signature reads as a space under form rules (docs/protocol.md §14.2 pitfall).
        let raw_plus = with_raw(
            query(EX2_URL),
            "signature",
            "/3dc5XTaUg2dbziVVu+HnIoYwK+nqd4Bk/kyLXOS6bY=",
        );
        assert!(v4(&raw_plus).is_ok());
        let unpadded = with_raw(
            query(EX2_URL),
            "signature",
            "%2F3dc5XTaUg2dbziVVu%20HnIoYwK%20nqd4Bk%2FkyLXOS6bY",
        );
        assert!(v4(&unpadded).is_ok());
    }

    #[test]
    fn accepts_every_encoding_the_signer_produces() {
        for (launch, creds) in [(ex2_launch(), ex2_creds()), (ex3_launch(), ex2_creds())] {
            for encoding in [Encoding::Rfc3986, Encoding::Form] {
                let q = v4_query(&launch, &creds, encoding);
                assert!(verify_v4(&q, &creds, &concur()).is_ok(), "{encoding:?}");
            }
        }
    }

    #[test]
    fn refuses_the_plus_as_space_signature_of_example_3() {
        let q = with_signature(query(EX3_URL), EX3_SIG_PLUS_AS_SPACE);
        assert_eq!(v4(&q).unwrap_err(), LaunchError::SignatureMismatch);
    }

    #[test]
    fn treats_each_wrong_reading_of_section_14_4_as_a_mismatch() {
        let cases = [
            (
                EX2_SIG_B_USERNAME_LOWERED,
                LaunchError::SignatureMismatch,
                "(b) username lower-cased in message",
            ),
            (
                EX2_SIG_C_KEY_EXACT_CASE,
                LaunchError::SignatureMismatch,
                "(c) key not lower-cased",
            ),
            (
                EX2_SIG_D_SHA1,
                LaunchError::BadSignatureLength {
                    expected: 32,
                    got: 20,
                },
                "(d) HMAC-SHA1",
            ),
            (
                EX2_SIG_E_HEX,
                LaunchError::BadSignatureLength {
                    expected: 32,
                    got: 48,
                },
                "(e) hex",
            ),
            (
                EX2_SIG_G_ITEM_URL_ENCODED,
                LaunchError::SignatureMismatch,
                "(g) item url left encoded",
            ),
        ];
        for (signature, expected, why) in cases {
            let err = v4(&with_signature(query(EX2_URL), signature)).unwrap_err();
            assert_eq!(err, expected, "{why}");
            assert_eq!(err.class(), ErrorClass::SignatureMismatch, "{why}");
        }
    }

    #[test]
    fn accepts_the_url_safe_signature_of_section_14_4_f() {
        let q = with_raw(query(EX2_URL), "signature", EX2_SIG_F_URL_SAFE);
        assert_eq!(v4(&q).unwrap().nonce(), EX2_NONCE);
        let unpadded = with_raw(
            query(EX2_URL),
            "signature",
            EX2_SIG_F_URL_SAFE.trim_end_matches('='),
        );
        assert!(v4(&unpadded).is_ok());
    }

    #[test]
    fn accepts_an_item_url_encoded_twice_in_transit_and_carries_it_decoded() {
        let twice = EX2_ITEM_URL_ENCODED.replace('%', "%25");
        let launch = v4(&with_raw(query(EX2_URL), "item_url", &twice)).unwrap();
        assert_eq!(launch.item_url().as_str(), EX2_ITEM_URL);
        assert!(launch.transport().item_url_encoded_twice);
    }

    #[test]
    fn accepts_a_mac_over_the_once_decoded_item_url_when_it_arrived_encoded_twice() {
        // Double transport encoding plus a MAC over the still-encoded text is docs/protocol.md T2's
        // "once-decoded" reading; the carried URL is still the fully decoded one.
        let twice = EX2_ITEM_URL_ENCODED.replace('%', "%25");
        let q = with_raw(query(EX2_URL), "item_url", &twice);
        let launch = v4(&with_signature(&q, EX2_SIG_G_ITEM_URL_ENCODED)).unwrap();
        assert_eq!(launch.item_url().as_str(), EX2_ITEM_URL);
        assert!(launch.transport().item_url_encoded_twice);
    }

    #[test]
    fn does_not_decode_a_single_encoded_item_url_twice() {
        // `%2524` decodes once to `%24`; a second decoding would turn it into `$` and
        // change the signed value.
        let q = with_raw(
            query(EX2_URL),
            "item_url",
            "https%3A%2F%2Fx.concursolutions.com%2Fa%2524b",
        );
        assert_eq!(v4(&q).unwrap_err(), LaunchError::SignatureMismatch);
    }

    #[test]
    fn ignores_unknown_parameters_and_the_case_of_names() {
        let q = query(EX2_URL)
            .replace("company_domain=", "COMPANY_DOMAIN=")
            .replace("signature=", "Signature=")
            + "&utm_source=mail&x=%FF";
        assert!(v4(&q).is_ok());
    }

    #[test]
    fn refuses_a_v1_query_on_the_v4_verifier_for_naming_no_owner() {
        assert_eq!(v4(query(EX1_URL)).unwrap_err(), LaunchError::NoOwnerFamily);
        assert_eq!(
            v4(&without(query(EX2_URL), "company_domain")).unwrap_err(),
            LaunchError::MissingParameter("company_domain")
        );
    }

    #[test]
    fn unsigned_values_can_change_without_breaking_the_signature() {
        let q = with_raw(query(EX2_URL), "source", "header");
        assert_eq!(v4(&q).unwrap().source(), Source::Header);
    }

    #[test]
    fn infers_the_source_from_the_item_url_when_absent() {
        assert_eq!(
            v4(&without(query(EX2_URL), "source")).unwrap().source(),
            Source::Entry
        );
        assert_eq!(
            v4(&without(query(EX3_URL), "source")).unwrap().source(),
            Source::Allocation
        );
    }

    #[test]
    fn empty_unsigned_values_count_as_absent() {
        let mut q = query(EX2_URL).to_owned();
        for name in [
            "language_code",
            "is_mobile",
            "client_auth_code",
            "custom_field_launched_from",
            "source",
        ] {
            q = with_raw(&q, name, "");
        }
        let launch = v4(&q).unwrap();
        assert_eq!(launch.language(), "en");
        assert!(!launch.is_mobile());
        assert!(launch.client_auth_code().is_none());
        assert_eq!(launch.custom_field_launched_from(), None);
        assert_eq!(launch.source(), Source::Entry);
    }

    #[test]
    fn refuses_malformed_unsigned_values_after_the_signature_matched() {
        let cases = [
            ("source", "REPORT", "source"),
            ("is_mobile", "maybe", "is_mobile"),
            ("language_code", "english", "language_code"),
            ("expense_ids", "a%3Bb", "expense_ids"),
        ];
        for (name, value, expected) in cases {
            match v4(&with_raw(query(EX3_URL), name, value)) {
                Err(LaunchError::InvalidParameter { name, .. }) => assert_eq!(name, expected),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
        assert_eq!(
            v4(&with_raw(query(EX2_URL), "client_auth_code", "%FF")).unwrap_err(),
            LaunchError::InvalidEncoding("client_auth_code".into())
        );
    }

    #[test]
    fn the_context_holds_neither_signature_nor_auth_code() {
        let launch = v4(query(EX2_URL)).unwrap();
        let json = serde_json::to_string(&launch.context()).unwrap();
        assert!(!json.contains(EX2_AUTH_CODE));
        assert!(!json.contains("3dc5XTaUg2dbziVVu"));
        assert!(
            json.contains(EX2_NONCE),
            "the session needs the nonce: {json}"
        );
        let back: LaunchContext = serde_json::from_str(&json).unwrap();
        assert_eq!(back, launch.context());
        assert_eq!(back.item_url, EX2_ITEM_URL);
    }

    #[test]
    fn debug_output_hides_nonce_and_auth_code() {
        let launch = v4(query(EX2_URL)).unwrap();
        for shown in [format!("{launch:?}"), format!("{:?}", launch.context())] {
            assert!(!shown.contains(EX2_NONCE), "{shown}");
            assert!(!shown.contains(EX2_AUTH_CODE), "{shown}");
            assert!(shown.contains("acmecorp.com"), "{shown}");
        }
    }

    #[test]
    fn the_auth_code_can_be_taken_once() {
        let mut launch = v4(query(EX2_URL)).unwrap();
        let code = launch.take_client_auth_code().unwrap();
        assert_eq!(code.expose_secret(), EX2_AUTH_CODE);
        assert!(launch.take_client_auth_code().is_none());
        assert!(launch.client_auth_code().is_none());
    }

    #[test]
    fn checks_the_item_url_host_only_after_the_signature() {
        let foreign = with_raw(query(EX2_URL), "item_url", "https%3A%2F%2Fevil.com%2Fx");
        assert_eq!(v4(&foreign).unwrap_err(), LaunchError::SignatureMismatch);
        let local = ItemUrlPolicy::with_extra_hosts(["127.0.0.1:8443"]);
        let mut launch = ex2_launch();
        launch.item_url = "https://127.0.0.1:8443/expensereports/v4/reports/R/expenses/E".into();
        let q = v4_query(&launch, &ex2_creds(), Encoding::Rfc3986);
        assert!(verify_v4(&q, &ex2_creds(), &local).is_ok());
        assert!(matches!(
            verify_v4(&q, &ex2_creds(), &concur()).unwrap_err(),
            LaunchError::ItemUrlNotAllowed(_)
        ));
    }

    #[test]
    fn refuses_wrong_credentials() {
        let other = creds(EX2_USER, "Tr0ub4dor&3-Horsf");
        assert_eq!(
            verify_v4(query(EX2_URL), &other, &concur()).unwrap_err(),
            LaunchError::SignatureMismatch
        );
        let v1_with_v4_creds = verify_v1(query(EX1_URL), &ex2_creds(), &concur());
        assert_eq!(
            v1_with_v4_creds.unwrap_err(),
            LaunchError::SignatureMismatch
        );
    }

    /// `query` re-signed for `launch`, then given the signature of `signed_for`.
    fn with_signature_of(launch: &V4Launch, signed_for: &V4Launch) -> String {
        let q = v4_query(launch, &ex2_creds(), Encoding::Rfc3986);
        let original = v4_query(signed_for, &ex2_creds(), Encoding::Rfc3986);
        let sig = |q: &str| {
            q.split('&')
                .find_map(|p| p.strip_prefix("signature="))
                .unwrap()
                .to_owned()
        };
        with_raw(&q, "signature", &sig(&original))
    }

    #[test]
    fn a_character_moved_between_signed_values_keeps_the_mac_and_the_replay_key() {
        let original = ex2_launch();
        let mut shifted = original.clone();
        // `acmecorp.com` + `32c2…` signs the same bytes as `acmecorp.com3` + `2c2…`.
        shifted.company_domain.push('3');
        shifted.logged_in_user_id.remove(0);
        let q = with_signature_of(&shifted, &original);
        // The user id is no longer a UUID, so this one is refused outright ...
        assert_eq!(
            v4(&q).unwrap_err(),
            LaunchError::InvalidSignedValue {
                name: "logged_in_user_id",
                reason: "must be a UUID (8-4-4-4-12 hexadecimal digits)"
            }
        );
        assert_eq!(v4(&q).unwrap_err().class(), ErrorClass::Malformed);
        // ... and where the shapes allow a shift (v1's free-text user id), the replay key
        // stays the one of the genuine launch.
        let genuine = verify_v1(query(EX1_URL), &ex1_creds(), &concur()).unwrap();
        let mut v1 = ex1_launch();
        v1.company_domain.push('j');
        v1.user_id.remove(0);
        let v1_q = crate::launch::sign::v1_query(&v1, &ex1_creds(), Encoding::Rfc3986);
        let moved = verify_v1(&v1_q, &ex1_creds(), &concur()).unwrap();
        assert_eq!(moved.company_domain(), "acmecorp.comj");
        assert_eq!(moved.replay_key(), genuine.replay_key());
    }

    #[test]
    fn the_replay_key_is_the_mac_and_the_same_for_every_reading_of_one_launch() {
        let rfc = v4(query(EX2_URL)).unwrap();
        assert_eq!(
            rfc.replay_key(),
            "v4|ff775ce574da520d9d6f389556ef879c8a18c0afa7a9de0193f9322d7392e9b6"
        );
        let url_safe = v4(&with_raw(query(EX2_URL), "signature", EX2_SIG_F_URL_SAFE)).unwrap();
        let form = v4(&v4_query(&ex2_launch(), &ex2_creds(), Encoding::Form)).unwrap();
        assert_eq!(url_safe.replay_key(), rfc.replay_key());
        assert_eq!(form.replay_key(), rfc.replay_key());
        let other = v4(query(EX3_URL)).unwrap();
        assert_ne!(other.replay_key(), rfc.replay_key());
        let v1 = verify_v1(query(EX1_URL), &ex1_creds(), &concur()).unwrap();
        assert!(v1.replay_key().starts_with("v1|"), "{}", v1.replay_key());
        assert_eq!(v1.replay_key().len(), 3 + 40);
    }

    #[test]
    fn refuses_signed_values_without_their_documented_shape() {
        type Change = fn(&mut V4Launch);
        let cases: [(&str, Change); 5] = [
            ("company_domain", |l| l.company_domain.clear()),
            ("logged_in_user_id", |l| l.logged_in_user_id = "jane".into()),
            ("report_owner_user_id", |l| l.report_owner_user_id.push('0')),
            ("nonce", |l| l.nonce.clear()),
            ("company_domain", |l| l.company_domain = "  ".into()),
        ];
        for (expected, change) in cases {
            let mut launch = ex2_launch();
            change(&mut launch);
            let q = v4_query(&launch, &ex2_creds(), Encoding::Rfc3986);
            match v4(&q) {
                Err(LaunchError::InvalidSignedValue { name, .. }) => assert_eq!(name, expected),
                other => panic!("{expected}: {other:?}"),
            }
        }
        for (name, change) in [
            (
                "xcompanydomain",
                (|l| l.company_domain.clear()) as fn(&mut V1Launch),
            ),
            ("xuserid", |l| l.user_id.clear()),
            ("nonce", |l| l.nonce.clear()),
        ] {
            let mut launch = ex1_launch();
            change(&mut launch);
            let q = crate::launch::sign::v1_query(&launch, &ex1_creds(), Encoding::Rfc3986);
            match verify_v1(&q, &ex1_creds(), &concur()) {
                Err(LaunchError::InvalidSignedValue { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn accepts_upper_case_uuids_without_changing_their_case() {
        let mut launch = ex2_launch();
        launch.logged_in_user_id = launch.logged_in_user_id.to_uppercase();
        let q = v4_query(&launch, &ex2_creds(), Encoding::Rfc3986);
        assert_eq!(v4(&q).unwrap().user_id(), EX2_USER_ID.to_uppercase());
    }

    #[test]
    fn accepts_an_empty_employee_id_and_carries_it_as_absent() {
        let mut launch = ex2_launch();
        launch.report_owner_employee_id.clear();
        let q = v4_query(&launch, &ex2_creds(), Encoding::Rfc3986);
        let verified = v4(&q).unwrap();
        assert_eq!(verified.report_owner_employee_id(), None);
        assert_eq!(verified.context().report_owner_employee_id, None);
    }

    #[test]
    fn refuses_a_v4_signature_length_on_v1() {
        let q = with_signature(query(EX1_URL), EX2_SIGNATURE);
        assert_eq!(
            verify_v1(&q, &ex1_creds(), &concur()).unwrap_err(),
            LaunchError::BadSignatureLength {
                expected: 20,
                got: 32
            }
        );
    }
}
