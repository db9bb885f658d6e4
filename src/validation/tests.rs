//! The rules on fixed reports: each kind passing and failing, the verdict and its comment.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::concur::{CustomField, ExpenseItem, ExpenseV4, ItemRef, V4Report};
use crate::values::{InlineValue, ValuesSettings};

pub(super) fn report_ref() -> V4Report {
    V4Report {
        user_id: Some("owner-uuid".into()),
        context_type: Some("TRAVELER".into()),
        report_id: "R20CHARACTERSxxxxxxx".into(),
    }
}

fn fields(pairs: &[(&str, &str)]) -> Vec<CustomField> {
    pairs
        .iter()
        .map(|(id, value)| CustomField {
            id: (*id).into(),
            value: Some((*value).into()),
            ..CustomField::default()
        })
        .collect()
}

fn item(location: ItemRef, pairs: &[(&str, &str)]) -> ExpenseItem {
    ExpenseItem {
        kind: location.kind(),
        location,
        expense_type_code: None,
        expense_type_name: None,
        amount: None,
        currency: None,
        transaction_date: None,
        vendor: None,
        business_purpose: None,
        report_id: Some("R20CHARACTERSxxxxxxx".into()),
        report_name: Some("Berlin trip".into()),
        start_date: None,
        end_date: None,
        entry_id: None,
        allocation_id: None,
        expense_ids: Vec::new(),
        owner: Some("owner-uuid".into()),
        fields: fields(pairs),
    }
}

pub(super) fn header(pairs: &[(&str, &str)]) -> ExpenseItem {
    let mut header = item(ItemRef::V4Report(report_ref()), pairs);
    header.currency = Some("USD".into());
    header
}

/// An expense of `kind` (code; its name is the code in title case) of `amount` USD.
pub(super) fn expense(id: &str, kind: &str, amount: &str, pairs: &[(&str, &str)]) -> ExpenseV4 {
    let location = ItemRef::V4Expense {
        report: report_ref(),
        expense_id: id.into(),
    };
    let mut e = item(location, pairs);
    e.entry_id = Some(id.into());
    e.expense_type_code = Some(kind.into());
    let mut name = kind.to_lowercase();
    name[..1].make_ascii_uppercase();
    e.expense_type_name = Some(name);
    e.amount = Some(amount.into());
    e.currency = Some("USD".into());
    e.transaction_date = Some("2026-11-02".into());
    ExpenseV4 {
        expense: e,
        allocations: Vec::new(),
    }
}

pub(super) fn allocation(id: &str, pairs: &[(&str, &str)]) -> ExpenseItem {
    let location = ItemRef::V4Allocation {
        report: report_ref(),
        allocation_id: id.into(),
    };
    let mut a = item(location, pairs);
    a.allocation_id = Some(id.into());
    a
}

pub(super) fn details() -> ReportDetails {
    ReportDetails {
        report_id: "R20CHARACTERSxxxxxxx".into(),
        report_key: Some("3%Rek29$wsIY12Di3LS9$gjei%KL23".into()),
        report_name: Some("Berlin trip".into()),
        approval_status_name: Some("Pending External Validation".into()),
        approval_status_code: Some("A_EXTV".into()),
        owner_login: Some("cm@example.com".into()),
        owner_employee_id: Some("E-42".into()),
        currency: Some("US, Dollar".into()),
        workflow_action_url: None,
        entries: Vec::new(),
    }
}

pub(super) fn report(header: ExpenseItem, expenses: Vec<ExpenseV4>) -> ReportV4 {
    ReportV4 {
        header,
        approval_status: Some("Pending External Validation".into()),
        approval_status_id: Some("A_EXTV".into()),
        expenses,
    }
}

pub(super) fn rules(toml_rules: &str) -> Vec<RuleSettings> {
    #[derive(serde::Deserialize)]
    struct File {
        rules: Vec<RuleSettings>,
    }
    toml::from_str::<File>(toml_rules).unwrap().rules
}

fn validator(toml_rules: &str) -> Validator {
    let settings = ValidationSettings {
        rules: rules(toml_rules),
        ..ValidationSettings::default()
    };
    Validator::from_settings(&settings, Mode::Production).unwrap()
}

/// Inline values: PRJ-1 for every item, PRJ-LUNCH only for LUNCH expenses.
pub(super) fn values() -> Values {
    let value = |code: &str, types: Option<&[&str]>| {
        let mut map = BTreeMap::from([
            ("code".to_owned(), serde_json::json!(code)),
            ("label".to_owned(), serde_json::json!(code)),
        ]);
        if let Some(types) = types {
            map.insert("expense_types".into(), serde_json::json!(types));
        }
        InlineValue(map)
    };
    let settings = ValuesSettings {
        inline: vec![value("PRJ-1", None), value("PRJ-LUNCH", Some(&["LUNCH"]))],
        ..ValuesSettings::default()
    };
    Values::from_settings(&settings, Mode::Production).unwrap()
}

fn decide(validator: &Validator, report: &ReportV4, language: Option<&str>) -> Verdict {
    decide_with(validator, report, language, &values()).unwrap()
}

fn decide_with(
    validator: &Validator,
    report: &ReportV4,
    language: Option<&str>,
    values: &Values,
) -> Result<Verdict, DecideError> {
    let details = details();
    let review = Review {
        details: &details,
        report,
        owner_language: language,
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(validator.decide(&review, values))
}

/// The failed rules and the comment's problem lines (the intro left out).
fn sent_back(verdict: Verdict) -> (Vec<String>, Vec<String>) {
    match verdict {
        Verdict::SendBack {
            failed_rules,
            comment,
        } => (
            failed_rules,
            comment.lines().skip(1).map(str::to_owned).collect(),
        ),
        Verdict::Approve => panic!("approved, expected a send back"),
    }
}

const HEADER_PROJECT: &str = r#"
[[rules]]
name = "project"
kind = "required"
field = "Custom12"
on = "header"
"#;

#[test]
fn no_rules_approve_every_report() {
    let v = validator("rules = []");
    assert_eq!(
        decide(&v, &report(header(&[]), vec![]), None),
        Verdict::Approve
    );
}

#[test]
fn required_on_the_header_passes_when_set_in_any_case() {
    let v = validator(HEADER_PROJECT);
    let r = report(header(&[("custom12", "PRJ-1")]), vec![]);
    assert_eq!(decide(&v, &r, None), Verdict::Approve);
}

#[test]
fn required_on_the_header_fails_when_missing_or_blank() {
    let v = validator(HEADER_PROJECT);
    for r in [
        report(header(&[]), vec![]),
        report(header(&[("custom12", "  ")]), vec![]),
    ] {
        let (failed, lines) = sent_back(decide(&v, &r, None));
        assert_eq!(failed, ["project"]);
        assert_eq!(lines, ["- Report header: custom12 is required"]);
    }
}

#[test]
fn required_on_every_expense_names_each_expense_without_it() {
    let v = validator(
        r#"
[[rules]]
name = "project"
kind = "required"
field = "custom12"
"#,
    );
    let r = report(
        header(&[]),
        vec![
            expense("E1", "LUNCH", "12.50", &[("custom12", "PRJ-1")]),
            expense("E2", "TAXI", "30.00", &[]),
            expense("E3", "AIRFR", "400", &[("custom3", "x")]),
        ],
    );
    let (failed, lines) = sent_back(decide(&v, &r, None));
    assert_eq!(failed, ["project"]);
    assert_eq!(
        lines,
        [
            "- Expense Taxi, 2026-11-02, 30.00 USD: custom12 is required",
            "- Expense Airfr, 2026-11-02, 400 USD: custom12 is required",
        ]
    );
}

#[test]
fn required_by_expense_type_reads_only_those_expenses() {
    let v = validator(
        r#"
[[rules]]
name = "meal-project"
kind = "required"
field = "custom12"
expense_types = ["lunch", "BRKFT"]
"#,
    );
    let untouched = report(header(&[]), vec![expense("E1", "TAXI", "30.00", &[])]);
    assert_eq!(decide(&v, &untouched, None), Verdict::Approve);
    let r = report(
        header(&[]),
        vec![
            expense("E1", "TAXI", "30.00", &[]),
            expense("E2", "LUNCH", "12.00", &[]),
        ],
    );
    let (_, lines) = sent_back(decide(&v, &r, None));
    assert_eq!(
        lines,
        ["- Expense Lunch, 2026-11-02, 12.00 USD: custom12 is required"]
    );
}

#[test]
fn an_allocated_expense_has_a_field_when_every_allocation_has_it() {
    let v = validator(
        r#"
[[rules]]
name = "project"
kind = "required"
field = "custom12"
"#,
    );
    let allocated = |allocations: Vec<ExpenseItem>, own: &[(&str, &str)]| {
        let mut e = expense("E1", "LUNCH", "20.00", own);
        e.allocations = allocations;
        report(header(&[]), vec![e])
    };
    let every = allocated(
        vec![
            allocation("A1", &[("custom12", "PRJ-1")]),
            allocation("A2", &[("custom12", "PRJ-LUNCH")]),
        ],
        &[],
    );
    assert_eq!(decide(&v, &every, None), Verdict::Approve);
    let one_missing = allocated(
        vec![
            allocation("A1", &[("custom12", "PRJ-1")]),
            allocation("A2", &[]),
        ],
        &[],
    );
    assert_eq!(sent_back(decide(&v, &one_missing, None)).1.len(), 1);
    let on_the_expense = allocated(vec![allocation("A1", &[])], &[("custom12", "PRJ-1")]);
    assert_eq!(decide(&v, &on_the_expense, None), Verdict::Approve);
}

const ALLOWED: &str = r#"
[[rules]]
name = "project-open"
kind = "allowed"
field = "custom12"
"#;

#[test]
fn allowed_passes_values_the_source_allows_for_the_item() {
    let v = validator(ALLOWED);
    let r = report(
        header(&[]),
        vec![
            expense("E1", "LUNCH", "12.00", &[("custom12", "PRJ-LUNCH")]),
            expense("E2", "TAXI", "30.00", &[("custom12", "PRJ-1")]),
            // Unset: left to a `required` rule.
            expense("E3", "TAXI", "30.00", &[]),
        ],
    );
    assert_eq!(decide(&v, &r, None), Verdict::Approve);
}

#[test]
fn allowed_refuses_unknown_values_and_values_filtered_out_for_the_item() {
    let v = validator(ALLOWED);
    let r = report(
        header(&[]),
        vec![
            expense("E1", "TAXI", "30.00", &[("custom12", "PRJ-LUNCH")]),
            expense("E2", "LUNCH", "12.00", &[("custom12", "PRJ-CLOSED")]),
        ],
    );
    let (failed, lines) = sent_back(decide(&v, &r, None));
    assert_eq!(failed, ["project-open"]);
    assert_eq!(
        lines,
        [
            "- Expense Taxi, 2026-11-02, 30.00 USD: custom12: \"PRJ-LUNCH\" is not an allowed value",
            "- Expense Lunch, 2026-11-02, 12.00 USD: custom12: \"PRJ-CLOSED\" is not an allowed value",
        ]
    );
}

#[test]
fn allowed_reads_the_list_item_code_before_the_value() {
    let v = validator(ALLOWED);
    let mut e = expense("E1", "TAXI", "30.00", &[]);
    e.expense.fields = vec![CustomField {
        id: "Custom12".into(),
        value: Some("(PRJ-1) Apollo".into()),
        code: Some("PRJ-1".into()),
        is_list: true,
        ..CustomField::default()
    }];
    assert_eq!(
        decide(&v, &report(header(&[]), vec![e]), None),
        Verdict::Approve
    );
}

#[test]
fn allowed_reads_a_v4_list_field_by_its_list_item_id() {
    let v = validator(
        r#"
[[rules]]
name = "cost-center"
kind = "allowed"
field = "custom9"
"#,
    );
    let map = BTreeMap::from([
        ("code".to_owned(), serde_json::json!("CC-100")),
        ("label".to_owned(), serde_json::json!("Engineering")),
        (
            "list_item_id".to_owned(),
            serde_json::json!("AB8596D91C994F4DBBD820D6DCBDC599"),
        ),
        ("expense_types".to_owned(), serde_json::json!(["LUNCH"])),
    ]);
    let settings = ValuesSettings {
        inline: vec![InlineValue(map)],
        ..ValuesSettings::default()
    };
    let values = Values::from_settings(&settings, Mode::Production).unwrap();
    let list = |kind: &str, id: &str| {
        let mut e = expense("E1", kind, "10.00", &[]);
        e.expense.fields = vec![CustomField {
            id: "custom9".into(),
            value: Some(id.into()),
            list_item_id: Some(id.into()),
            list_item_url: Some(format!("https://h/list/v4/items/{id}")),
            is_list: true,
            ..CustomField::default()
        }];
        report(header(&[]), vec![e])
    };
    let known = list("LUNCH", "ab8596d91c994f4dbbd820d6dcbdc599");
    assert_eq!(
        decide_with(&v, &known, None, &values).unwrap(),
        Verdict::Approve
    );
    for (kind, id) in [
        ("TAXI", "AB8596D91C994F4DBBD820D6DCBDC599"),
        ("LUNCH", "FFFF"),
    ] {
        let verdict = decide_with(&v, &list(kind, id), None, &values).unwrap();
        assert_eq!(sent_back(verdict).0, ["cost-center"], "{kind} {id}");
    }
}

#[test]
fn allowed_checks_the_header_and_allocations_with_their_facts() {
    let on_header = validator(
        r#"
[[rules]]
name = "header-project"
kind = "allowed"
field = "custom12"
on = "header"
"#,
    );
    let r = report(header(&[("custom12", "PRJ-LUNCH")]), vec![]);
    assert_eq!(
        decide(&on_header, &r, None),
        Verdict::Approve,
        "the header has no expense type: [values.match] on it does not filter"
    );
    let r = report(header(&[("custom12", "PRJ-NOPE")]), vec![]);
    let (_, lines) = sent_back(decide(&on_header, &r, None));
    assert_eq!(
        lines,
        ["- Report header: custom12: \"PRJ-NOPE\" is not an allowed value"]
    );
    let v = validator(ALLOWED);
    let mut e = expense("E1", "LUNCH", "20.00", &[]);
    e.allocations = vec![
        allocation("A1", &[("custom12", "PRJ-LUNCH")]),
        allocation("A2", &[("custom12", "PRJ-NOPE")]),
    ];
    let (_, lines) = sent_back(decide(&v, &report(header(&[]), vec![e]), None));
    assert_eq!(
        lines,
        ["- Expense Lunch, 2026-11-02, 20.00 USD: custom12: \"PRJ-NOPE\" is not an allowed value"],
        "an allocation of a LUNCH expense is filtered with the expense's type"
    );
}

#[test]
fn a_value_source_that_cannot_answer_is_no_decision() {
    let v = validator(ALLOWED);
    let settings = ValuesSettings {
        source: crate::values::SourceKind::Http,
        http: crate::values::HttpSettings {
            // Port 9 (discard) on loopback: refused at once.
            url: Some("http://127.0.0.1:9/values?q={search}".into()),
            cache_ttl: std::time::Duration::ZERO,
            ..crate::values::HttpSettings::default()
        },
        ..ValuesSettings::default()
    };
    let down = Values::from_settings(&settings, Mode::Development).unwrap();
    let r = report(
        header(&[]),
        vec![expense("E1", "TAXI", "3.00", &[("custom12", "PRJ-1")])],
    );
    let error = decide_with(&v, &r, None, &down).unwrap_err();
    assert!(matches!(&error, DecideError::Values { rule, .. } if rule == "project-open"));
    assert!(
        error.to_string().starts_with("rule `project-open`: "),
        "{error}"
    );
}

const LIMITS: &str = r#"
[[rules]]
name = "meal-limits"
kind = "amount_limit"
limits = { LUNCH = 50, airfr = "2000.00", BRKFT = 12.5 }
"#;

#[test]
fn amount_limit_passes_at_the_limit_and_fails_above_it() {
    let v = validator(LIMITS);
    let at_limit = report(
        header(&[]),
        vec![
            expense("E1", "LUNCH", "50.00", &[]),
            expense("E2", "AIRFR", "2000", &[]),
            expense("E3", "BRKFT", "12.50", &[]),
            expense("E4", "TAXI", "9999.00", &[]),
        ],
    );
    assert_eq!(decide(&v, &at_limit, None), Verdict::Approve);
    let above = report(
        header(&[]),
        vec![
            expense("E1", "LUNCH", "50.01", &[]),
            expense("E2", "BRKFT", "12.51", &[]),
        ],
    );
    let (failed, lines) = sent_back(decide(&v, &above, None));
    assert_eq!(failed, ["meal-limits"]);
    assert_eq!(
        lines,
        [
            "- Expense Lunch, 2026-11-02, 50.01 USD: the amount 50.01 USD exceeds the limit of 50.00 USD for Lunch",
            "- Expense Brkft, 2026-11-02, 12.51 USD: the amount 12.51 USD exceeds the limit of 12.50 USD for Brkft",
        ]
    );
}

#[test]
fn amount_limit_with_a_currency_reads_only_expenses_in_it() {
    let v = validator(
        r#"
[[rules]]
name = "eur-lunch"
kind = "amount_limit"
limits = { LUNCH = 40 }
currency = "eur"
"#,
    );
    let usd = report(header(&[]), vec![expense("E1", "LUNCH", "80.00", &[])]);
    assert_eq!(
        decide(&v, &usd, None),
        Verdict::Approve,
        "USD is not compared"
    );
    let mut eur = expense("E1", "LUNCH", "40.10", &[]);
    eur.expense.currency = Some("EUR".into());
    let (failed, _) = sent_back(decide(&v, &report(header(&[]), vec![eur]), None));
    assert_eq!(failed, ["eur-lunch"]);
}

#[test]
fn every_problem_is_listed_header_first_then_expenses_in_report_order() {
    let v = validator(&format!("{LIMITS}{ALLOWED}{HEADER_PROJECT}"));
    let r = report(
        header(&[]),
        vec![
            expense("E1", "LUNCH", "60.00", &[("custom12", "PRJ-X")]),
            expense("E2", "TAXI", "5.00", &[]),
            expense("E3", "LUNCH", "51", &[]),
        ],
    );
    let (failed, lines) = sent_back(decide(&v, &r, None));
    assert_eq!(failed, ["meal-limits", "project-open", "project"]);
    assert_eq!(
        lines,
        [
            "- Report header: custom12 is required",
            "- Expense Lunch, 2026-11-02, 60.00 USD: the amount 60.00 USD exceeds the limit of 50.00 USD for Lunch",
            "- Expense Lunch, 2026-11-02, 60.00 USD: custom12: \"PRJ-X\" is not an allowed value",
            "- Expense Lunch, 2026-11-02, 51 USD: the amount 51.00 USD exceeds the limit of 50.00 USD for Lunch",
        ]
    );
}

#[test]
fn the_comment_is_in_the_owners_language() {
    let v = validator(&format!("{HEADER_PROJECT}{LIMITS}"));
    let r = report(header(&[]), vec![expense("E1", "LUNCH", "60.00", &[])]);
    let comment = |language| match decide(&v, &r, language) {
        Verdict::SendBack { comment, .. } => comment,
        Verdict::Approve => panic!("approved"),
    };
    assert_eq!(
        comment(Some("de-DE")),
        "Ihr Bericht wurde von der automatischen Prüfung zurückgesendet. Bitte korrigieren Sie:\n\
         - Berichtskopf: custom12 ist ein Pflichtfeld\n\
         - Ausgabe Lunch, 2026-11-02, 60.00 USD: der Betrag 60.00 USD überschreitet die Grenze von 50.00 USD für Lunch"
    );
    assert_eq!(
        comment(Some("fr_CA")),
        "Votre note de frais a été renvoyée par le contrôle automatique. Veuillez corriger :\n\
         - En-tête de la note : custom12 est obligatoire\n\
         - Dépense Lunch, 2026-11-02, 60.00 USD : le montant 60.00 USD dépasse la limite de 50.00 USD pour Lunch"
    );
    let english = comment(Some("en-US"));
    assert!(
        english.starts_with("Your report was sent back"),
        "{english}"
    );
    assert_eq!(
        comment(Some("it-IT")),
        english,
        "other languages: validation.language"
    );
    assert_eq!(comment(None), english);
}

#[test]
fn the_default_language_is_configurable() {
    let settings = ValidationSettings {
        language: "DE".into(),
        rules: rules(HEADER_PROJECT),
    };
    let v = Validator::from_settings(&settings, Mode::Production).unwrap();
    let r = report(header(&[]), vec![]);
    let (_, lines) = sent_back(decide(&v, &r, Some("es")));
    assert_eq!(lines, ["- Berichtskopf: custom12 ist ein Pflichtfeld"]);
    let (_, lines) = sent_back(decide(&v, &r, Some("fr")));
    assert_eq!(lines, ["- En-tête de la note : custom12 est obligatoire"]);
}

#[test]
fn a_rules_own_message_replaces_the_built_in_text_in_its_language() {
    let v = validator(
        r#"
[[rules]]
name = "lunch"
kind = "amount_limit"
limits = { LUNCH = 50 }
message = { en = "{expense_type} may cost at most {limit} {currency} (you spent {amount})", de = "Höchstens {limit} für {expense_type}" }
"#,
    );
    let r = report(header(&[]), vec![expense("E1", "LUNCH", "60.00", &[])]);
    let (_, en) = sent_back(decide(&v, &r, None));
    assert_eq!(
        en,
        [
            "- Expense Lunch, 2026-11-02, 60.00 USD: Lunch may cost at most 50.00 USD (you spent 60.00)"
        ]
    );
    let (_, de) = sent_back(decide(&v, &r, Some("de")));
    assert_eq!(
        de,
        ["- Ausgabe Lunch, 2026-11-02, 60.00 USD: Höchstens 50.00 für Lunch"]
    );
    let (_, fr) = sent_back(decide(&v, &r, Some("fr")));
    assert!(
        fr[0].contains("dépasse la limite"),
        "no French message: the built-in one"
    );
}

fn many_problems(count: usize) -> ReportV4 {
    let expenses = (0..count)
        .map(|i| expense(&format!("E{i}"), "LUNCH", &format!("{}.00", 100 + i), &[]))
        .collect();
    report(header(&[]), expenses)
}

#[test]
fn a_long_comment_is_cut_at_a_line_with_the_count_left_out() {
    let v = validator(LIMITS);
    for (language, more) in [
        (None, "… and "),
        (Some("de"), "… und "),
        (Some("fr"), "… et "),
    ] {
        let Verdict::SendBack { comment, .. } = decide(&v, &many_problems(40), language) else {
            panic!("approved");
        };
        assert!(comment.chars().count() <= MAX_COMMENT_CHARS, "{comment}");
        let lines: Vec<&str> = comment.lines().collect();
        let last = lines.last().unwrap();
        assert!(last.starts_with(more), "{last}");
        let listed = lines.len() - 2;
        let left_out: usize = last
            .trim_start_matches(more)
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(listed + left_out, 40, "{comment}");
        assert!(
            lines[1..lines.len() - 1]
                .iter()
                .all(|l| l.starts_with("- ")),
            "only whole lines: {comment}"
        );
    }
}

#[test]
fn a_comment_that_fits_is_not_cut() {
    let v = validator(LIMITS);
    let (_, lines) = sent_back(decide(&v, &many_problems(5), None));
    assert_eq!(lines.len(), 5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_comment_never_exceeds_2000_characters(
        lines in proptest::collection::vec("\\PC{0,700}", 0..60),
        lang in prop_oneof![Just(Lang::En), Just(Lang::De), Just(Lang::Fr)],
    ) {
        let lines: Vec<String> = lines.iter().map(|l| messages::cut_line(&format!("- {l}"))).collect();
        let comment = messages::comment(lang, &lines);
        prop_assert!(comment.chars().count() <= MAX_COMMENT_CHARS);
        prop_assert!(comment.lines().count() >= 1);
    }
}

fn problem_keys(settings: &ValidationSettings) -> Vec<String> {
    Validator::from_settings(settings, Mode::Production)
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.key)
        .collect()
}

#[test]
fn bad_rules_are_named_by_their_key() {
    let settings = ValidationSettings {
        language: "es".into(),
        rules: rules(
            r#"
[[rules]]
kind = "required"
field = "custom41"

[[rules]]
name = "a"
kind = "allowed"
on = "header"
expense_types = ["LUNCH"]
field = "orgUnit6"

[[rules]]
name = "A"
kind = "amount_limit"
limits = { LUNCH = -1, AIRFR = "12,50", TAXI = true }
currency = "EURO"

[[rules]]
name = "no-kind"

[[rules]]
name = "limit-with-field"
kind = "amount_limit"
field = "custom1"
url = "https://x.example"

[[rules]]
name = "hook-without-url"
kind = "hook"
retries = 11
timeout = "0s"
limits = { LUNCH = 1 }
message = { es = "hola", en = " " }

[[rules]]
name = "required-without-field"
kind = "required"
"#,
        ),
    };
    assert_eq!(
        problem_keys(&settings),
        [
            "validation.language",
            "validation.rules[0].name",
            "validation.rules[0].field",
            "validation.rules[1].expense_types",
            "validation.rules[2].name",
            "validation.rules[2].limits.AIRFR",
            "validation.rules[2].limits.LUNCH",
            "validation.rules[2].limits.TAXI",
            "validation.rules[2].currency",
            "validation.rules[3].kind",
            "validation.rules[4].field",
            "validation.rules[4].url",
            "validation.rules[4].limits",
            "validation.rules[5].message.en",
            "validation.rules[5].message.es",
            "validation.rules[5].limits",
            "validation.rules[5].url",
            "validation.rules[5].timeout",
            "validation.rules[5].retries",
            "validation.rules[6].field",
        ]
    );
}

#[test]
fn field_ids_are_custom_1_to_40_and_org_units_1_to_6() {
    for id in ["custom1", "Custom40", "CUSTOM12", "orgUnit1", "ORGUNIT6"] {
        assert!(fields::is_field_id(id), "{id}");
    }
    for id in [
        "custom0", "custom41", "custom01", "orgUnit7", "custom", "custom1x", "name",
    ] {
        assert!(!fields::is_field_id(id), "{id}");
    }
}

#[test]
fn a_hook_url_must_be_https_in_production() {
    let settings = |url: &str| ValidationSettings {
        rules: rules(&format!(
            "[[rules]]\nname = \"erp\"\nkind = \"hook\"\nurl = \"{url}\"\n"
        )),
        ..ValidationSettings::default()
    };
    assert_eq!(
        problem_keys(&settings("http://erp.example/decide")),
        ["validation.rules[0].url"]
    );
    assert!(problem_keys(&settings("https://erp.example/decide")).is_empty());
    assert!(Validator::from_settings(&settings("http://127.0.0.1:1/x"), Mode::Development).is_ok());
}

#[test]
fn hook_credentials_are_one_kind_and_complete() {
    let keys = |extra: &str| {
        problem_keys(&ValidationSettings {
            rules: rules(&format!(
                "[[rules]]\nname = \"erp\"\nkind = \"hook\"\nurl = \"https://erp.example\"\n{extra}"
            )),
            ..ValidationSettings::default()
        })
    };
    assert_eq!(
        keys("bearer_token = \"t\"\nusername = \"u\"\npassword = \"p\"\n"),
        ["validation.rules[0].bearer_token"]
    );
    assert_eq!(keys("username = \"u\"\n"), ["validation.rules[0].password"]);
    assert_eq!(keys("password = \"p\"\n"), ["validation.rules[0].username"]);
    assert_eq!(
        keys("username = \"a:b\"\npassword = \"p\"\n"),
        ["validation.rules[0].username"]
    );
    assert_eq!(
        keys("bearer_token_file = \"/nonexistent/token\"\n"),
        ["validation.rules[0].bearer_token_file"]
    );
    assert!(keys("username = \"u\"\npassword = \"p\"\n").is_empty());
    assert!(keys("bearer_token = \"t\"\n").is_empty());
}

#[test]
fn check_config_shows_hook_secrets_redacted() {
    let settings = ValidationSettings {
        rules: rules(
            "[[rules]]\nname = \"erp\"\nkind = \"hook\"\nurl = \"https://erp.example\"\nusername = \"u\"\npassword = \"hunter2-secret\"\n",
        ),
        ..ValidationSettings::default()
    };
    let shown = toml::to_string(&settings).unwrap();
    assert!(!shown.contains("hunter2-secret"), "{shown}");
    assert!(shown.contains("[REDACTED]"), "{shown}");
}

#[test]
fn the_examples_commented_rules_are_valid_when_uncommented() {
    const EXAMPLE: &str = include_str!("../../config/example.toml");
    let block: String = EXAMPLE
        .lines()
        .skip_while(|l| *l != "# Example:")
        .skip(1)
        .take_while(|l| l.starts_with("#   "))
        .map(|l| format!("{}\n", &l[4..]))
        .map(|l| l.replace("validation.rules", "rules"))
        .collect();
    let settings = ValidationSettings {
        rules: rules(&block),
        ..ValidationSettings::default()
    };
    let v = Validator::from_settings(&settings, Mode::Production).unwrap();
    assert_eq!(
        v.rule_names().collect::<Vec<_>>(),
        [
            "project-on-header",
            "project-open",
            "meal-limits",
            "erp-budget"
        ]
    );
}

#[test]
fn a_decision_can_run_on_a_spawned_task() {
    fn send<T: Send>(_: &T) {}
    let (v, values, details) = (validator(ALLOWED), values(), details());
    let report = report(header(&[]), vec![]);
    let review = Review {
        details: &details,
        report: &report,
        owner_language: None,
    };
    let decision = v.decide(&review, &values);
    send(&decision);
    send(&v);
}
