//! Item URLs: the ids a launch's item URL carries, and which Concur API it belongs to.

use serde::Serialize;

use crate::launch::{Product, Source};

/// Which Concur API family an item URL belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ItemApi {
    /// `/expensereports/v4/...` (JSON; the live LEU v4 protocol).
    V4,
    /// `/api/v3.0/expense/entries/{id}` (JSON).
    V3,
    /// `/api/expense/expensereport/v1.1/report/{reportId}/entry/{entryId}` (XML; LEU v1).
    V11,
    /// `/travelrequest/v4/...` (JSON; Concur Request, written with `PUT`).
    Request,
}

/// Ids taken from an item URL's path, needed to address writes.
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
    /// A Travel Request header (`/travelrequest/v4/requests/{requestUuid}`).
    RequestHeader { request_id: String },
    /// A Travel Request expected expense (`/travelrequest/v4/expenses/{expenseUuid}`): the
    /// URL names no request.
    RequestExpense { expense_id: String },
    /// A Travel Request allocation
    /// (`/travelrequest/v4/requests/{requestUuid}/allocations/{allocationUuid}`).
    RequestAllocation {
        request_id: String,
        allocation_id: String,
    },
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
    /// would reject or rewrite Concur's stray `%`.
    pub fn parse(item_url: &str) -> Option<Self> {
        let path = path_of(item_url)?;
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        parse_v4(&segments)
            .or_else(|| parse_v3(&segments))
            .or_else(|| parse_v11(&segments))
            .or_else(|| parse_request(&segments))
    }

    pub fn api(&self) -> ItemApi {
        match self {
            ItemRef::V4Report(_) | ItemRef::V4Expense { .. } | ItemRef::V4Allocation { .. } => {
                ItemApi::V4
            }
            ItemRef::V3Entry { .. } => ItemApi::V3,
            ItemRef::V11Entry { .. } => ItemApi::V11,
            ItemRef::RequestHeader { .. }
            | ItemRef::RequestExpense { .. }
            | ItemRef::RequestAllocation { .. } => ItemApi::Request,
        }
    }

    /// The Concur product the item belongs to: an expense report or a travel request.
    pub fn product(&self) -> Product {
        match self.api() {
            ItemApi::V4 | ItemApi::V3 | ItemApi::V11 => Product::Expense,
            ItemApi::Request => Product::Request,
        }
    }

    /// Header, entry or allocation, as the URL says (the unsigned `source` is not trusted).
    pub fn kind(&self) -> Source {
        match self {
            ItemRef::V4Report(_) | ItemRef::RequestHeader { .. } => Source::Header,
            ItemRef::V4Allocation { .. } | ItemRef::RequestAllocation { .. } => Source::Allocation,
            ItemRef::V4Expense { .. }
            | ItemRef::V3Entry { .. }
            | ItemRef::V11Entry { .. }
            | ItemRef::RequestExpense { .. } => Source::Entry,
        }
    }

    /// The report id (for a travel request: the request id) as written in the URL, when the
    /// URL has one. An expected expense's URL names no request.
    pub fn report_id(&self) -> Option<&str> {
        match self {
            ItemRef::V4Report(r)
            | ItemRef::V4Expense { report: r, .. }
            | ItemRef::V4Allocation { report: r, .. } => Some(&r.report_id),
            ItemRef::V11Entry { report_id, .. } => Some(report_id),
            ItemRef::RequestHeader { request_id }
            | ItemRef::RequestAllocation { request_id, .. } => Some(request_id),
            ItemRef::V3Entry { .. } | ItemRef::RequestExpense { .. } => None,
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

fn parse_request(segments: &[&str]) -> Option<ItemRef> {
    match after(segments, &["travelrequest", "v4"])? {
        [requests, request_id] if is(requests, "requests") => Some(ItemRef::RequestHeader {
            request_id: (*request_id).to_owned(),
        }),
        [expenses, expense_id] if is(expenses, "expenses") => Some(ItemRef::RequestExpense {
            expense_id: (*expense_id).to_owned(),
        }),
        [requests, request_id, allocations, allocation_id]
            if is(requests, "requests") && is(allocations, "allocations") =>
        {
            Some(ItemRef::RequestAllocation {
                request_id: (*request_id).to_owned(),
                allocation_id: (*allocation_id).to_owned(),
            })
        }
        _ => None,
    }
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
            "https://h/travelrequest/v4/requests",
            "https://h/travelrequest/v4/requests/q1/expenses/e1",
            "https://h/travelrequest/v4/requests/q1/allocations",
            "https://h/travelrequest/v4/requests/q1/allocations/a1/extra",
            "https://h/travelrequest/v4/expenses",
            "https://h/travelrequest/v4/requests/q1/participants",
            "https://h/travelrequest/v3/requests/q1",
            "https://h/requests/q1",
        ] {
            assert_eq!(ItemRef::parse(url), None, "{url}");
        }
    }

    #[test]
    fn recognises_each_request_shape() {
        let base = "https://us.api.concursolutions.com/travelrequest/v4";
        let header =
            ItemRef::parse(&format!("{base}/requests/E82B0B803671004B9A5D952F34FBD01E")).unwrap();
        assert_eq!(
            header,
            ItemRef::RequestHeader {
                request_id: "E82B0B803671004B9A5D952F34FBD01E".into()
            }
        );
        let expense = ItemRef::parse(&format!(
            "{base}/expenses/7F0A1E2B3C4D5E6F708192A3B4C5D6E7?lang=fr#top"
        ))
        .unwrap();
        assert_eq!(
            expense,
            ItemRef::RequestExpense {
                expense_id: "7F0A1E2B3C4D5E6F708192A3B4C5D6E7".into()
            }
        );
        let allocation = ItemRef::parse(&format!(
            "{base}/requests/224F3CDCC2Q5244A37C72FA5770C6F2/allocations/41A2B3C4D5E6F7081920A1B2C3D4E5F6"
        ))
        .unwrap();
        assert_eq!(
            allocation,
            ItemRef::RequestAllocation {
                request_id: "224F3CDCC2Q5244A37C72FA5770C6F2".into(),
                allocation_id: "41A2B3C4D5E6F7081920A1B2C3D4E5F6".into()
            }
        );
        for (item, kind, report) in [
            (
                &header,
                Source::Header,
                Some("E82B0B803671004B9A5D952F34FBD01E"),
            ),
            (&expense, Source::Entry, None),
            (
                &allocation,
                Source::Allocation,
                Some("224F3CDCC2Q5244A37C72FA5770C6F2"),
            ),
        ] {
            assert_eq!(item.api(), ItemApi::Request, "{item:?}");
            assert_eq!(item.product(), Product::Request, "{item:?}");
            assert_eq!(item.kind(), kind, "{item:?}");
            assert_eq!(item.report_id(), report, "{item:?}");
        }
    }

    #[test]
    fn request_urls_match_like_the_others() {
        // A gateway prefix, any case in the segment names, ids verbatim (case, `%`, `$`).
        assert_eq!(
            ItemRef::parse(
                "HTTPS://gw.example/concur/TravelRequest/V4/Requests/ab%Cd$1/Allocations/x%2Fy"
            ),
            Some(ItemRef::RequestAllocation {
                request_id: "ab%Cd$1".into(),
                allocation_id: "x%2Fy".into()
            })
        );
        assert_eq!(
            ItemRef::parse("https://h/travelrequest/v4/Expenses/e1/").unwrap(),
            ItemRef::RequestExpense {
                expense_id: "e1".into()
            }
        );
    }

    #[test]
    fn expense_urls_belong_to_expense() {
        for url in [
            "https://h/expensereports/v4/reports/r1",
            "https://h/expensereports/v4/reports/r1/expenses/e1",
            "https://h/api/v3.0/expense/entries/e1",
            "https://h/api/expense/expensereport/v1.1/report/r1/entry/e1",
        ] {
            assert_eq!(
                ItemRef::parse(url).unwrap().product(),
                Product::Expense,
                "{url}"
            );
        }
    }
}
