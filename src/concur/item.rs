//! The item a launch points at: where it lives (ids from the item URL) and what it holds.

use serde::Serialize;

use crate::launch::Source;

/// Which Concur API family an item URL belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ItemApi {
    /// `/expensereports/v4/...` (JSON; the live LEU v4 protocol).
    V4,
    /// `/api/v3.0/expense/entries/{id}` (JSON).
    V3,
    /// `/api/expense/expensereport/v1.1/report/{reportId}/entry/{entryId}` (XML; LEU v1).
    V11,
}

/// Ids taken from an item URL's path, needed to address writes (protocol §8.3, T38).
///
/// Ids are kept exactly as they appear in the URL path (still percent-encoded, `$` and stray
/// `%` untouched, original case) so rebuilt write URLs neither double-encode nor alter them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ItemRef {
    /// A v4 report header.
    V4Report(V4Report),
    /// A v4 expense (entry) of a report.
    V4Expense {
        report: V4Report,
        expense_id: String,
    },
    /// A v4 allocation of a report.
    V4Allocation {
        report: V4Report,
        allocation_id: String,
    },
    /// A v3 expense entry.
    V3Entry { entry_id: String },
    /// A v1.1 expense entry (read as XML; written through v3, which shares the entry ids).
    V11Entry { report_id: String, entry_id: String },
}

/// The report part of a v4 item URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct V4Report {
    /// `users/{userID}`: absent in the compact `/expensereports/v4/reports/...` form.
    pub user_id: Option<String>,
    /// `context/{contextType}` (`TRAVELER`, `PROXY`, ...).
    pub context_type: Option<String>,
    pub report_id: String,
}

impl ItemRef {
    /// Recognises the item URL's shape; `None` for anything else.
    ///
    /// Segment names match case-insensitively anywhere in the path (a gateway may prefix
    /// it); the query and fragment are ignored. No regex and no URL parser: a strict parser
    /// would reject or rewrite Concur's stray `%` (T4).
    pub fn parse(item_url: &str) -> Option<Self> {
        let path = path_of(item_url)?;
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        parse_v4(&segments)
            .or_else(|| parse_v3(&segments))
            .or_else(|| parse_v11(&segments))
    }

    pub fn api(&self) -> ItemApi {
        match self {
            ItemRef::V4Report(_) | ItemRef::V4Expense { .. } | ItemRef::V4Allocation { .. } => {
                ItemApi::V4
            }
            ItemRef::V3Entry { .. } => ItemApi::V3,
            ItemRef::V11Entry { .. } => ItemApi::V11,
        }
    }

    /// Header, entry or allocation, as the URL says (the unsigned `source` is not trusted).
    pub fn kind(&self) -> Source {
        match self {
            ItemRef::V4Report(_) => Source::Header,
            ItemRef::V4Allocation { .. } => Source::Allocation,
            ItemRef::V4Expense { .. } | ItemRef::V3Entry { .. } | ItemRef::V11Entry { .. } => {
                Source::Entry
            }
        }
    }

    /// The report id as written in the URL, when the URL has one.
    pub fn report_id(&self) -> Option<&str> {
        match self {
            ItemRef::V4Report(r)
            | ItemRef::V4Expense { report: r, .. }
            | ItemRef::V4Allocation { report: r, .. } => Some(&r.report_id),
            ItemRef::V11Entry { report_id, .. } => Some(report_id),
            ItemRef::V3Entry { .. } => None,
        }
    }
}

/// The path of an absolute `http(s)` URL, without query and fragment.
fn path_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.trim().split_once("://")?;
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return None;
    }
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let path_start = rest.find('/')?;
    Some(&rest[path_start..])
}

/// The `scheme://authority` part of an absolute URL.
pub(crate) fn origin_of(url: &str) -> Option<&str> {
    let url = url.trim();
    let scheme_end = url.find("://")? + 3;
    let end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    Some(&url[..end])
}

fn is(segment: &str, name: &str) -> bool {
    segment.eq_ignore_ascii_case(name)
}

/// Finds `marker` as consecutive segments; returns what follows it.
fn after<'s, 'a>(segments: &'s [&'a str], marker: &[&str]) -> Option<&'s [&'a str]> {
    (0..segments.len()).find_map(|start| {
        let window = segments.get(start..start + marker.len())?;
        window
            .iter()
            .zip(marker)
            .all(|(s, m)| is(s, m))
            .then(|| &segments[start + marker.len()..])
    })
}

fn parse_v4(segments: &[&str]) -> Option<ItemRef> {
    let mut rest = after(segments, &["expensereports", "v4"])?;
    let (mut user_id, mut context_type) = (None, None);
    if let [users, user, context, ctx, tail @ ..] = rest
        && is(users, "users")
        && is(context, "context")
    {
        user_id = Some((*user).to_owned());
        context_type = Some((*ctx).to_owned());
        rest = tail;
    }
    let [reports, report_id, tail @ ..] = rest else {
        return None;
    };
    if !is(reports, "reports") {
        return None;
    }
    let report = V4Report {
        user_id,
        context_type,
        report_id: (*report_id).to_owned(),
    };
    match tail {
        [] => Some(ItemRef::V4Report(report)),
        [kind, id] if is(kind, "expenses") => Some(ItemRef::V4Expense {
            report,
            expense_id: (*id).to_owned(),
        }),
        [kind, id] if is(kind, "allocations") => Some(ItemRef::V4Allocation {
            report,
            allocation_id: (*id).to_owned(),
        }),
        _ => None,
    }
}

fn parse_v3(segments: &[&str]) -> Option<ItemRef> {
    match after(segments, &["api", "v3.0", "expense", "entries"])? {
        [id] => Some(ItemRef::V3Entry {
            entry_id: (*id).to_owned(),
        }),
        _ => None,
    }
}

fn parse_v11(segments: &[&str]) -> Option<ItemRef> {
    match after(
        segments,
        &["api", "expense", "expensereport", "v1.1", "report"],
    )? {
        [report_id, entry, entry_id] if is(entry, "entry") => Some(ItemRef::V11Entry {
            report_id: (*report_id).to_owned(),
            entry_id: (*entry_id).to_owned(),
        }),
        _ => None,
    }
}

/// One expense report header, entry or allocation, whichever API it was read from.
///
/// Optional fields are those an API or item kind does not provide (a header has no expense
/// type; v1.1 has no ISO currency). Texts are as Concur sent them.
#[derive(Debug, Clone, Serialize)]
pub struct ExpenseItem {
    pub kind: Source,
    /// Where the item lives; writes are addressed from it.
    pub location: ItemRef,
    /// v4 `expenseType.id` (e.g. `BRKFT`), v3 `ExpenseTypeCode`, v1.1 `ExpenseKey`.
    pub expense_type_code: Option<String>,
    pub expense_type_name: Option<String>,
    /// Transaction (or allocation) amount as decimal text, e.g. `40.00`.
    pub amount: Option<String>,
    /// ISO 4217 code (v3, v4); for v1.1 Concur's currency *name*, e.g. `US, Dollar` (T30).
    pub currency: Option<String>,
    /// `YYYY-MM-DD` (v1.1's `2011-06-15T00:00:00` is cut to the date, T29).
    pub transaction_date: Option<String>,
    pub vendor: Option<String>,
    pub business_purpose: Option<String>,
    pub report_id: Option<String>,
    pub report_name: Option<String>,
    /// v4 `expenseId`, v3 `ID`, v1.1 `ReportEntryID`.
    pub entry_id: Option<String>,
    pub allocation_id: Option<String>,
    /// For allocations: the expense(s) allocated, sent back with an allocation write.
    pub expense_ids: Vec<String>,
    /// Report owner: v4 user UUID, v3 `ReportOwnerID` (login id), v1.1 `X_UserID`.
    pub owner: Option<String>,
    /// Custom and org-unit fields with their current values, ids exactly as sent.
    pub fields: Vec<CustomField>,
}

impl ExpenseItem {
    /// The field with this id, compared case-insensitively (`custom12` finds `Custom12`).
    pub fn field(&self, id: &str) -> Option<&CustomField> {
        self.fields.iter().find(|f| f.id.eq_ignore_ascii_case(id))
    }
}

/// A custom (`customN`) or org-unit (`orgUnitN`) field of an item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CustomField {
    /// The id exactly as the GET returned it (`custom9`, `Custom9`, `OrgUnit1`; T24).
    pub id: String,
    /// Current value: text, or for list fields what the API shows (v4: list item id;
    /// v3: item name; v1.1: `(code) name`).
    pub value: Option<String>,
    /// List item code (v3 `Code`; v1.1's `(code)` prefix).
    pub code: Option<String>,
    /// List item id (v4 `value` of a list field; v3 `ListItemID`).
    pub list_item_id: Option<String>,
    /// v3 `Type` (`Text`, `List`, `ConnectedList`, ...).
    pub field_type: Option<String>,
    /// v4 `listItemUrl`.
    pub list_item_url: Option<String>,
    /// True when the field holds a list item.
    pub is_list: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_v4_shape() {
        let base = "https://us2.api.concursolutions.com/expensereports/v4/users/32c2fcc3-b2e8-4907-9672-5b3f49b1c643/context/TRAVELER/reports/764428DD6A664AF0BFCB";
        let report = V4Report {
            user_id: Some("32c2fcc3-b2e8-4907-9672-5b3f49b1c643".into()),
            context_type: Some("TRAVELER".into()),
            report_id: "764428DD6A664AF0BFCB".into(),
        };
        assert_eq!(
            ItemRef::parse(base),
            Some(ItemRef::V4Report(report.clone()))
        );
        assert_eq!(
            ItemRef::parse(&format!("{base}/expenses/84FCBB92BD4E5342B849DAC29FD163A1")),
            Some(ItemRef::V4Expense {
                report: report.clone(),
                expense_id: "84FCBB92BD4E5342B849DAC29FD163A1".into()
            })
        );
        assert_eq!(
            ItemRef::parse(&format!(
                "{base}/allocations/3BBB494511E1C74DA04469C45B039871?x=1"
            )),
            Some(ItemRef::V4Allocation {
                report,
                allocation_id: "3BBB494511E1C74DA04469C45B039871".into()
            })
        );
    }

    #[test]
    fn segment_names_match_case_insensitively_and_ids_keep_their_case() {
        let got = ItemRef::parse(
            "https://h/ExpenseReports/V4/Users/u1/Context/proxy/Reports/r1/Expenses/e1",
        );
        assert_eq!(
            got,
            Some(ItemRef::V4Expense {
                report: V4Report {
                    user_id: Some("u1".into()),
                    context_type: Some("proxy".into()),
                    report_id: "r1".into()
                },
                expense_id: "e1".into()
            })
        );
    }

    #[test]
    fn the_compact_v4_form_has_no_user() {
        let got = ItemRef::parse("https://h/expensereports/v4/reports/r1/expenses/e1").unwrap();
        let ItemRef::V4Expense { report, .. } = got else {
            panic!("not an expense: {got:?}");
        };
        assert_eq!(report.user_id, None);
    }

    #[test]
    fn legacy_ids_stay_exactly_as_written() {
        assert_eq!(
            ItemRef::parse(
                "https://www.concursolutions.com/api/expense/expensereport/v1.1/report/nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw/entry/nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U"
            ),
            Some(ItemRef::V11Entry {
                report_id: "nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw".into(),
                entry_id: "nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U".into()
            })
        );
        assert_eq!(
            ItemRef::parse(
                "https://www.concursolutions.com/api/v3.0/expense/entries/gWidFO7ikXV66iSvqtG6Yd0wZ%24s4ftzvzTCg"
            ),
            Some(ItemRef::V3Entry {
                entry_id: "gWidFO7ikXV66iSvqtG6Yd0wZ%24s4ftzvzTCg".into()
            })
        );
        assert_eq!(
            ItemRef::parse("https://h/api/v3.0/expense/entries/3%Rek29$wsIY12Di3LS9$gjei%KL23"),
            Some(ItemRef::V3Entry {
                entry_id: "3%Rek29$wsIY12Di3LS9$gjei%KL23".into()
            })
        );
    }

    #[test]
    fn rejects_other_urls() {
        for url in [
            "",
            "not a url",
            "ftp://h/expensereports/v4/reports/r1",
            "https://h/expensereports/v4/reports",
            "https://h/expensereports/v4/reports/r1/expenses",
            "https://h/expensereports/v4/reports/r1/expenses/e1/extra",
            "https://h/expensereports/v4/users/u/reports/r1",
            "https://h/api/v3.0/expense/entries",
            "https://h/api/v3.0/expense/reports/x",
            "https://h/api/expense/expensereport/v1.1/report/r1",
            "https://h",
        ] {
            assert_eq!(ItemRef::parse(url), None, "{url}");
        }
    }

    #[test]
    fn origin_is_scheme_and_authority() {
        assert_eq!(
            origin_of("https://www.concursolutions.com:443/api/x?y"),
            Some("https://www.concursolutions.com:443")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:80"),
            Some("http://127.0.0.1:80")
        );
    }
}
