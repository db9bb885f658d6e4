//! Minting signed launch URLs for seeded items, as Concur does when a user clicks a Launch URL
//! field: v4 for a header, entry or allocation (with a fresh one-time auth code), and v1.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use super::seed::{Seed, User};
use super::state::SimHandle;
use concur_protocol::launch::sign::{Encoding, V1Launch, V4Launch, v1_query, v4_query};
use concur_protocol::launch::{Product, Source};

/// How the launch query string encodes its values (Concur's encoder is undocumented, docs/protocol.md T1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryEncoding {
    /// `%20` for space, `%2B` for plus.
    #[default]
    Rfc3986,
    /// `+` for space.
    Form,
}

impl From<QueryEncoding> for Encoding {
    fn from(value: QueryEncoding) -> Self {
        match value {
            QueryEncoding::Rfc3986 => Encoding::Rfc3986,
            QueryEncoding::Form => Encoding::Form,
        }
    }
}

/// A v4 launch to mint (`POST /_sim/launch/v4` takes the same JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V4LaunchRequest {
    pub source: Source,
    /// The item: a report id (`HEADER`), expense id (`ENTRY`) or allocation id (`ALLOCATION`).
    pub id: String,
    /// Who clicked: the report owner when absent, else one of the owner's delegates.
    #[serde(default)]
    pub logged_in_user_id: Option<String>,
    /// Defaults to the seed's launch field of the level (`"launch": true`).
    #[serde(default)]
    pub custom_field_launched_from: Option<String>,
    /// Defaults to the clicking user's profile language, else `en`.
    #[serde(default)]
    pub language_code: Option<String>,
    #[serde(default)]
    pub is_mobile: bool,
    #[serde(default)]
    pub encoding: QueryEncoding,
}

impl V4LaunchRequest {
    /// The owner launching from the item's default field.
    pub fn new(source: Source, id: impl Into<String>) -> Self {
        Self {
            source,
            id: id.into(),
            logged_in_user_id: None,
            custom_field_launched_from: None,
            language_code: None,
            is_mobile: false,
            encoding: QueryEncoding::default(),
        }
    }
}

/// A v1 launch to mint (`POST /_sim/launch/v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V1LaunchRequest {
    /// The entry, by v1.1 key or v4 expense id.
    pub entry_id: String,
    /// Who clicked (UUID): the report owner when absent, else a delegate.
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub encoding: QueryEncoding,
}

impl V1LaunchRequest {
    pub fn new(entry_id: impl Into<String>) -> Self {
        Self {
            entry_id: entry_id.into(),
            user_id: None,
            encoding: QueryEncoding::default(),
        }
    }
}

/// A signed launch, ready to open in a browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintedLaunch {
    /// The connector's launch endpoint with the signed query string.
    pub url: String,
    /// The signed `item_url` / `itemurl` (decoded), pointing at this simulator.
    pub item_url: String,
    pub nonce: String,
    /// v4 only: the one-time code, bound to the clicking user.
    pub client_auth_code: Option<String>,
    /// The clicking user's UUID.
    pub logged_in_user_id: String,
}

/// Why a launch could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    #[error("no {level} item with id `{id}` in the seed")]
    UnknownItem { level: &'static str, id: String },
    #[error("no user with id `{0}` in the seed")]
    UnknownUser(String),
    #[error("user `{user}` is not a delegate of the report owner `{owner}`")]
    NotADelegate { user: String, owner: String },
}

/// Path segments keep `$` (as the v1.1 docs print it) but escape what a path cannot hold.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

fn segment(value: &str) -> String {
    utf8_percent_encode(value, PATH_SEGMENT).to_string()
}

/// The report owner and the user who clicks: the owner when `clicker` is absent, else a
/// user who may act for the owner.
fn owner_and_clicker<'a>(
    data: &'a Seed,
    owner: &str,
    clicker: Option<&str>,
) -> Result<(&'a User, &'a User), MintError> {
    let owner = data
        .user(owner)
        .ok_or_else(|| MintError::UnknownUser(owner.to_owned()))?;
    let Some(id) = clicker else {
        return Ok((owner, owner));
    };
    let user = data
        .user(id)
        .ok_or_else(|| MintError::UnknownUser(id.to_owned()))?;
    if !data.may_act_for(&user.id, &owner.id) {
        return Err(MintError::NotADelegate {
            user: user.id.clone(),
            owner: owner.id.clone(),
        });
    }
    Ok((owner, user))
}

impl SimHandle {
    /// Mints a v4 launch: fresh nonce, fresh auth code for the clicking user, `item_url` on
    /// this simulator in the docs/protocol.md §6.1 shape (context `PROXY` when a delegate clicks).
    pub fn mint_v4(&self, request: &V4LaunchRequest) -> Result<MintedLaunch, MintError> {
        let settings = self.settings();
        let geo = settings.geolocation.as_str();
        let mut inner = self.lock();
        let data = &inner.data;
        let unknown = || MintError::UnknownItem {
            level: request.source.as_str(),
            id: request.id.clone(),
        };
        let (report, tail, expense_ids) = match request.source {
            Source::Header => (
                data.report(&request.id).ok_or_else(unknown)?,
                String::new(),
                Vec::new(),
            ),
            Source::Entry => {
                let (report, expense) = data
                    .expense(&request.id)
                    .filter(|(_, e)| e.id.eq_ignore_ascii_case(&request.id))
                    .ok_or_else(unknown)?;
                (
                    report,
                    format!("/expenses/{}", segment(&expense.id)),
                    Vec::new(),
                )
            }
            Source::Allocation => {
                let (report, expense, allocation) =
                    data.allocation(&request.id).ok_or_else(unknown)?;
                (
                    report,
                    format!("/allocations/{}", segment(&allocation.id)),
                    vec![expense.id.clone()],
                )
            }
        };
        let (owner, clicker) =
            owner_and_clicker(data, &report.owner, request.logged_in_user_id.as_deref())?;
        let context = if clicker.id == owner.id {
            "TRAVELER"
        } else {
            "PROXY"
        };
        let item_url = format!(
            "{geo}/expensereports/v4/users/{}/context/{context}/reports/{}{tail}",
            segment(&owner.id),
            segment(&report.id)
        );
        let field = request.custom_field_launched_from.clone().or_else(|| {
            data.fields_of(request.source)
                .find(|f| f.launch)
                .map(|f| f.id.clone())
        });
        let language = request
            .language_code
            .clone()
            .or_else(|| clicker.language.clone())
            .unwrap_or_else(|| "en".to_owned());
        let code = uuid::Uuid::new_v4().to_string();
        let launch = V4Launch {
            product: Product::Expense,
            company_domain: data.company.domain.clone(),
            logged_in_user_id: clicker.id.clone(),
            report_owner_user_id: owner.id.clone(),
            report_owner_employee_id: owner.employee_id.clone(),
            item_url: item_url.clone(),
            nonce: uuid::Uuid::new_v4().to_string(),
            custom_field_launched_from: field,
            source: request.source,
            expense_ids,
            is_mobile: request.is_mobile,
            client_auth_code: Some(code.clone()),
            language_code: Some(language),
        };
        let clicker_id = clicker.id.clone();
        inner.tokens.add_code(
            code.clone(),
            clicker_id.clone(),
            settings.lifetimes.auth_code,
        );
        drop(inner);
        let query = v4_query(&launch, &settings.connector, request.encoding.into());
        Ok(MintedLaunch {
            url: format!("{}?{query}", settings.launch_url_v4),
            item_url,
            nonce: launch.nonce,
            client_auth_code: Some(code),
            logged_in_user_id: clicker_id,
        })
    }

    /// Mints a v1 launch: `itemurl` is this simulator's v1.1 entry URL, `xuserid` the
    /// clicking user's login id.
    pub fn mint_v1(&self, request: &V1LaunchRequest) -> Result<MintedLaunch, MintError> {
        let settings = self.settings();
        let inner = self.lock();
        let data = &inner.data;
        let (report, expense) =
            data.expense(&request.entry_id)
                .ok_or_else(|| MintError::UnknownItem {
                    level: Source::Entry.as_str(),
                    id: request.entry_id.clone(),
                })?;
        let (_, clicker) = owner_and_clicker(data, &report.owner, request.user_id.as_deref())?;
        let item_url = format!(
            "{}/api/expense/expensereport/v1.1/report/{}/entry/{}",
            settings.geolocation,
            segment(&report.legacy_id),
            segment(&expense.legacy_id)
        );
        let launch = V1Launch {
            company_domain: data.company.domain.clone(),
            user_id: clicker.login_id.clone(),
            item_url: item_url.clone(),
            nonce: uuid::Uuid::new_v4().to_string(),
        };
        let clicker_id = clicker.id.clone();
        drop(inner);
        let query = v1_query(&launch, &settings.connector, request.encoding.into());
        Ok(MintedLaunch {
            url: format!("{}?{query}", settings.launch_url_v1),
            item_url,
            nonce: launch.nonce,
            client_auth_code: None,
            logged_in_user_id: clicker_id,
        })
    }
}
