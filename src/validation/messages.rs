//! The send-back comment: one line per problem in English, German or French, the whole at
//! most 2000 characters (Concur's limit on a workflow comment).

use std::collections::BTreeMap;

use super::amount::Amount;
use crate::checks::Problems;
use crate::concur::ReportV4;

pub use crate::concur::MAX_COMMENT_CHARS;

/// Most characters of one problem line; longer ones (a hook's long comment) are cut with
/// `…`, so the intro, at least one problem and the "and N more" line always fit.
const MAX_LINE_CHARS: usize = 500;

/// A language the comment is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lang {
    En,
    De,
    Fr,
}

impl Lang {
    /// `en`, `de` or `fr` (case-insensitive).
    pub fn parse(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "de" => Some(Lang::De),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    /// The owner's language as Concur gives it (`de-DE`, `de_CH`, `fr`, `en-US`, none):
    /// German and French by their prefix, anything else `default`.
    pub fn of_owner(language: Option<&str>, default: Lang) -> Self {
        let primary = language
            .unwrap_or_default()
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "de" => Lang::De,
            "fr" => Lang::Fr,
            "en" => Lang::En,
            _ => default,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
        }
    }
}

/// A rule's own texts (`message.en`, …), replacing the built-in problem text.
#[derive(Debug, Clone, Default)]
pub(super) struct Messages(BTreeMap<Lang, String>);

impl Messages {
    pub fn check(
        configured: &BTreeMap<String, String>,
        key: &str,
        problems: &mut Problems,
    ) -> Option<Self> {
        let before = problems.len();
        let mut messages = BTreeMap::new();
        for (lang, text) in configured {
            let key = format!("{key}.{lang}");
            match Lang::parse(lang) {
                None => problems.push(key, "is not a language of the comment: use en, de or fr"),
                Some(_) if text.trim().is_empty() => problems.push(key, "must not be empty"),
                Some(_) if text.chars().any(char::is_control) => {
                    problems.push(key, "must be one line without control characters")
                }
                Some(lang) => {
                    messages.insert(lang, text.trim().to_owned());
                }
            }
        }
        (problems.len() == before).then_some(Self(messages))
    }
}

/// Where a problem is: the report itself (header, or a hook's verdict), or one expense by
/// its index in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Place {
    Report,
    Expense(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Problem {
    Missing {
        field: String,
    },
    NotAllowed {
        field: String,
        value: String,
    },
    OverLimit {
        amount: Amount,
        limit: Amount,
        currency: Option<String>,
    },
    /// One line of a decision hook's answer, as it wrote it.
    Hook(String),
}

/// One failed check: which rule (its index), where, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    pub rule: usize,
    pub place: Place,
    pub problem: Problem,
}

impl Finding {
    pub fn new(place: Place, problem: Problem) -> Self {
        Self {
            rule: 0,
            place,
            problem,
        }
    }

    pub fn of_rule(self, rule: usize) -> Self {
        Self { rule, ..self }
    }
}

struct Texts {
    intro: &'static str,
    header: &'static str,
    expense: &'static str,
    /// Between the place and the problem (French sets a space before the colon).
    colon: &'static str,
    missing: &'static str,
    not_allowed: &'static str,
    over_limit: &'static str,
    more: &'static str,
}

fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::En => &Texts {
            intro: "Your report was sent back by the automatic check. Please correct:",
            header: "Report header",
            expense: "Expense",
            colon: ": ",
            missing: "{field} is required",
            not_allowed: "{field}: \"{value}\" is not an allowed value",
            over_limit: "the amount {amount} {currency} exceeds the limit of {limit} {currency} for {expense_type}",
            more: "… and {n} more",
        },
        Lang::De => &Texts {
            intro: "Ihr Bericht wurde von der automatischen Prüfung zurückgesendet. Bitte korrigieren Sie:",
            header: "Berichtskopf",
            expense: "Ausgabe",
            colon: ": ",
            missing: "{field} ist ein Pflichtfeld",
            not_allowed: "{field}: „{value}“ ist kein zulässiger Wert",
            over_limit: "der Betrag {amount} {currency} überschreitet die Grenze von {limit} {currency} für {expense_type}",
            more: "… und {n} weitere",
        },
        Lang::Fr => &Texts {
            intro: "Votre note de frais a été renvoyée par le contrôle automatique. Veuillez corriger :",
            header: "En-tête de la note",
            expense: "Dépense",
            colon: " : ",
            missing: "{field} est obligatoire",
            not_allowed: "{field} : « {value} » n'est pas une valeur autorisée",
            over_limit: "le montant {amount} {currency} dépasse la limite de {limit} {currency} pour {expense_type}",
            more: "… et {n} de plus",
        },
    }
}

/// Replaces `{name}` placeholders; unknown ones stay as written.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut text = template.to_owned();
    for (name, value) in values {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

/// One problem as a line: `- <place>: <text>` (a hook's lines as the hook wrote them),
/// the expense named by its type, date and amount so the owner finds it.
pub(super) fn line(lang: Lang, finding: &Finding, own: &Messages, report: &ReportV4) -> String {
    let t = texts(lang);
    let expense = match finding.place {
        Place::Expense(index) => report.expenses.get(index).map(|e| &e.expense),
        Place::Report => None,
    };
    let expense_type = expense
        .and_then(|e| {
            e.expense_type_name
                .as_deref()
                .or(e.expense_type_code.as_deref())
        })
        .unwrap_or_default();
    let (template, values): (&str, Vec<(&str, String)>) = match &finding.problem {
        Problem::Missing { field } => (t.missing, vec![("field", field.clone())]),
        Problem::NotAllowed { field, value } => (
            t.not_allowed,
            vec![("field", field.clone()), ("value", value.clone())],
        ),
        Problem::OverLimit {
            amount,
            limit,
            currency,
        } => (
            t.over_limit,
            vec![
                ("amount", amount.to_string()),
                ("limit", limit.to_string()),
                ("currency", currency.clone().unwrap_or_default()),
            ],
        ),
        Problem::Hook(text) => return cut_line(&format!("- {}", clean(text))),
    };
    let mut values = values;
    values.push(("expense_type", expense_type.to_owned()));
    let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let text = fill(own.0.get(&lang).map_or(template, String::as_str), &values);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let place = match expense {
        None => t.header.to_owned(),
        Some(e) => {
            let amount = [e.amount.as_deref(), e.currency.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            let parts: Vec<&str> = [
                Some(expense_type),
                e.transaction_date.as_deref(),
                Some(&amount),
            ]
            .into_iter()
            .flatten()
            .filter(|p| !p.is_empty())
            .collect();
            format!("{} {}", t.expense, parts.join(", "))
        }
    };
    cut_line(&clean(&format!("- {place}{}{text}", t.colon)))
}

/// Control characters (a hook's tabs or newlines) become spaces.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim_end()
        .to_owned()
}

pub(super) fn cut_line(line: &str) -> String {
    match line.char_indices().nth(MAX_LINE_CHARS - 1) {
        Some((end, _)) if line.chars().count() > MAX_LINE_CHARS => format!("{}…", &line[..end]),
        _ => line.to_owned(),
    }
}

/// The intro, then the lines, at most [`MAX_COMMENT_CHARS`] characters: when they do not
/// all fit, as many as fit followed by "… and N more" (the count of lines left out), cut
/// at a line boundary.
pub(super) fn comment(lang: Lang, lines: &[String]) -> String {
    let t = texts(lang);
    let chars = |s: &str| s.chars().count();
    let all = std::iter::once(t.intro)
        .chain(lines.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("\n");
    if chars(&all) <= MAX_COMMENT_CHARS {
        return all;
    }
    let mut comment = t.intro.to_owned();
    for (kept, line) in lines.iter().enumerate() {
        let more = fill(t.more, &[("n", &(lines.len() - kept - 1).to_string())]);
        // This line, and then the "more" line unless it is the last one.
        let need = chars(&comment) + 1 + chars(line) + 1 + chars(&more);
        if need > MAX_COMMENT_CHARS {
            let more = fill(t.more, &[("n", &(lines.len() - kept).to_string())]);
            comment.push('\n');
            comment.push_str(&more);
            return comment;
        }
        comment.push('\n');
        comment.push_str(line);
    }
    comment
}
