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
    /// `expense` (default) or `request` (Concur Request: signed with the `request_owner_*`
    /// names, sent to the Request launch endpoint).
    #[serde(default)]
    pub product: Product,
    pub source: Source,
    /// The item: a report or request id (`HEADER`), an expense or expected-expense id
    /// (`ENTRY`), or an allocation id (`ALLOCATION`).
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
    /// The owner launching from the Expense item's default field.
    pub fn new(source: Source, id: impl Into<String>) -> Self {
        Self {
            product: Product::Expense,
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

impl V4LaunchRequest {
    /// The owner launching from the Concur Request item's default field.
    pub fn request(source: Source, id: impl Into<String>) -> Self {
        Self {
            product: Product::Request,
            ..Self::new(source, id)
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

/// Where a v4 launch points: the item's owner, its `item_url` (on the simulator, `{geo}`
/// prepended later) and, for an allocation, the ids sent beside it.
struct Target<'a> {
    owner: &'a str,
    /// The path of `item_url` after the base URL; `{context}` stands for the Expense
    /// context (`TRAVELER` or `PROXY`), decided once the clicking user is known.
    item_path: String,
    expense_ids: Vec<String>,
}

/// The Expense item of a launch: report header, expense or allocation (docs/protocol.md
/// §6.1 shape of `item_url`).
fn expense_target<'a>(data: &'a Seed, source: Source, id: &str) -> Option<Target<'a>> {
    let (report, tail, expense_ids) = match source {
        Source::Header => (data.report(id)?, String::new(), Vec::new()),
        Source::Entry => {
            let (report, expense) = data
                .expense(id)
                .filter(|(_, e)| e.id.eq_ignore_ascii_case(id))?;
            (
                report,
                format!("/expenses/{}", segment(&expense.id)),
                Vec::new(),
            )
        }
        Source::Allocation => {
            let (report, expense, allocation) = data.allocation(id)?;
            (
                report,
                format!("/allocations/{}", segment(&allocation.id)),
                vec![expense.id.clone()],
            )
        }
    };
    Some(Target {
        owner: &report.owner,
        item_path: format!(
            "/expensereports/v4/users/{}/context/{{context}}/reports/{}{tail}",
            segment(&report.owner),
            segment(&report.id)
        ),
        expense_ids,
    })
}

/// The Concur Request item of a launch: the Travel Request v4 URL of the request header,
/// the expected expense, or the allocation (with the expected expense's id beside it, sent
/// as `request_ids`).
fn request_target<'a>(data: &'a Seed, source: Source, id: &str) -> Option<Target<'a>> {
    let (request, item_path, expense_ids) = match source {
        Source::Header => {
            let request = data.travel_request(id)?;
            let path = format!("/travelrequest/v4/requests/{}", segment(&request.id));
            (request, path, Vec::new())
        }
        Source::Entry => {
            let (request, expense) = data.expected_expense(id)?;
            let path = format!("/travelrequest/v4/expenses/{}", segment(&expense.id));
            (request, path, Vec::new())
        }
        Source::Allocation => {
            let (request, expense, allocation) = data.request_allocation(id)?;
            let path = format!(
                "/travelrequest/v4/requests/{}/allocations/{}",
                segment(&request.id),
                segment(&allocation.id)
            );
            (request, path, vec![expense.id.clone()])
        }
    };
    Some(Target {
        owner: &request.owner,
        item_path,
        expense_ids,
    })
}

impl SimHandle {
    /// Mints a v4 launch of either product: fresh nonce, fresh auth code for the clicking
    /// user, `item_url` on this simulator (an Expense one with context `PROXY` when a
    /// delegate clicks), signed with the product's owner parameter names and sent to the
    /// product's launch endpoint.
    pub fn mint_v4(&self, request: &V4LaunchRequest) -> Result<MintedLaunch, MintError> {
        let settings = self.settings();
        let geo = settings.geolocation.as_str();
        let mut inner = self.lock();
        let data = &inner.data;
        let (target, fields, endpoint) = match request.product {
            Product::Expense => (
                expense_target(data, request.source, &request.id),
                &data.fields,
                &settings.launch_url_v4,
            ),
            Product::Request => (
                request_target(data, request.source, &request.id),
                &data.request_fields,
                &settings.launch_url_request,
            ),
        };
        let target = target.ok_or_else(|| MintError::UnknownItem {
            level: request.source.as_str(),
            id: request.id.clone(),
        })?;
        let (owner, clicker) =
            owner_and_clicker(data, target.owner, request.logged_in_user_id.as_deref())?;
        let context = if clicker.id == owner.id {
            "TRAVELER"
        } else {
            "PROXY"
        };
        let item_url = format!("{geo}{}", target.item_path.replace("{context}", context));
        let field = request.custom_field_launched_from.clone().or_else(|| {
            fields
                .iter()
                .find(|f| f.level == request.source && f.launch)
                .map(|f| f.id.clone())
        });
        let language = request
            .language_code
            .clone()
            .or_else(|| clicker.language.clone())
            .unwrap_or_else(|| "en".to_owned());
        let code = uuid::Uuid::new_v4().to_string();
        let launch = V4Launch {
            product: request.product,
            company_domain: data.company.domain.clone(),
            logged_in_user_id: clicker.id.clone(),
            report_owner_user_id: owner.id.clone(),
            report_owner_employee_id: owner.employee_id.clone(),
            item_url: item_url.clone(),
            nonce: uuid::Uuid::new_v4().to_string(),
            custom_field_launched_from: field,
            source: request.source,
            expense_ids: target.expense_ids,
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
            url: format!("{endpoint}?{query}"),
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
