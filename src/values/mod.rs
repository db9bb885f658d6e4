//! TEMPORARY stub of the values API (replaced by the wip/values branch at merge).
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Choice {
    pub code: String,
    pub label: String,
    pub list_item_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ItemFacts(BTreeMap<String, String>);
impl ItemFacts {
    pub fn new(
        launch: &crate::launch::LaunchContext,
        item: Option<&crate::concur::ExpenseItem>,
    ) -> Self {
        let mut f = Self::default();
        f.insert("company", launch.company_domain.clone());
        if let Some(t) = item.and_then(|i| i.expense_type_code.clone()) {
            f.insert("expense_type", t);
        }
        f
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("timeout")]
    Timeout,
    #[error("unavailable")]
    Unavailable,
    #[error("bad response")]
    BadResponse,
}
impl LookupError {
    pub fn user_message_key(&self) -> &'static str {
        match self {
            LookupError::Timeout => "lookup_timeout",
            LookupError::Unavailable => "lookup_unavailable",
            LookupError::BadResponse => "lookup_bad_response",
        }
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct ValuesSettings {
    pub inline: Vec<StubValue>,
}
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct StubValue {
    pub code: String,
    pub label: String,
    #[serde(default)]
    pub expense_types: Vec<String>,
}

pub struct Values(Vec<StubValue>);
impl Values {
    pub fn from_settings(
        settings: &ValuesSettings,
    ) -> Result<Self, Vec<crate::config::ConfigProblem>> {
        Ok(Self(settings.inline.clone()))
    }
    pub async fn search(
        &self,
        search: &str,
        facts: &ItemFacts,
    ) -> Result<Vec<Choice>, LookupError> {
        let s = search.to_lowercase();
        Ok(self
            .0
            .iter()
            .filter(|v| {
                v.expense_types.is_empty()
                    || facts
                        .get("expense_type")
                        .is_none_or(|t| v.expense_types.iter().any(|e| e.eq_ignore_ascii_case(t)))
            })
            .filter(|v| v.code.to_lowercase().contains(&s) || v.label.to_lowercase().contains(&s))
            .take(100)
            .map(|v| Choice {
                code: v.code.clone(),
                label: v.label.clone(),
                list_item_id: None,
            })
            .collect())
    }
    pub async fn resolve(
        &self,
        code: &str,
        facts: &ItemFacts,
    ) -> Result<Option<Choice>, LookupError> {
        Ok(self
            .search("", facts)
            .await?
            .into_iter()
            .find(|c| c.code == code))
    }
    pub fn max_results(&self) -> usize {
        100
    }
}
