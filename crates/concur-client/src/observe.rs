//! What the client tells its embedder about its calls, without depending on it: an
//! [`Observer`] sees every HTTP exchange with Concur and every token grant, and a
//! correlation id scope ties outgoing calls to the work that caused them.
//!
//! Every call carries a `concur-correlationid` header (docs/protocol.md §7.7): the id of
//! the enclosing [`scope`] (the incoming request's id, or a background job's), else a
//! fresh UUID for that call alone.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;

tokio::task_local! {
    static CURRENT: Arc<str>;
}

/// Runs `work` with `id` as the correlation id of every Concur call it makes.
pub async fn scope<F: Future>(id: impl Into<Arc<str>>, work: F) -> F::Output {
    CURRENT.scope(id.into(), work).await
}

/// The correlation id of the enclosing [`scope`], if any.
pub fn current() -> Option<Arc<str>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// `work` inside the caller's correlation scope, for a task spawned on behalf of the
/// current request (task-locals do not cross `tokio::spawn` by themselves).
pub fn inherit<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let id = current();
    async move {
        match id {
            Some(id) => CURRENT.scope(id, work).await,
            None => work.await,
        }
    }
}

/// A fresh correlation id (a random UUID), for work that no request caused.
pub fn fresh() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The correlation id a call carries: the scope's, else a fresh one.
pub(crate) fn for_call() -> Arc<str> {
    current().unwrap_or_else(|| fresh().into())
}

/// How one HTTP exchange with Concur ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    /// Concur answered with this status.
    Http(u16),
    /// No connection could be made.
    Connect,
    /// No answer within the timeout.
    Timeout,
    /// The connection broke during the exchange.
    Transport,
}

/// One HTTP exchange with Concur (each retry is its own).
#[derive(Debug, Clone)]
pub struct CallEvent<'a> {
    /// A fixed template naming the API (`/oauth2/v0/token`,
    /// `/expensereports/v4/reports/{reportId}/expenses/{expenseId}`), never an id.
    pub api: &'static str,
    pub method: &'a Method,
    pub status: CallStatus,
    pub elapsed: Duration,
}

/// Whose token a grant obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// The company token (refresh-token or password grant).
    Company,
    /// A user's token (the launch's authorization-code grant).
    User,
}

/// Sees the client's calls; set once with [`crate::ConcurClient::set_observer`].
pub trait Observer: Send + Sync {
    /// After every HTTP exchange, retries included.
    fn call(&self, event: &CallEvent<'_>);
    /// After every token grant (with its retries): whether a token came of it.
    fn token_grant(&self, kind: TokenKind, ok: bool);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scope_reaches_into_inherited_tasks_and_ends_with_its_work() {
        assert_eq!(current(), None);
        let seen = scope("req-1", async {
            let inherited = tokio::spawn(inherit(async { current() }));
            let bare = tokio::spawn(async { current() });
            (
                current(),
                inherited.await.unwrap(),
                bare.await.unwrap(),
                for_call(),
            )
        })
        .await;
        assert_eq!(seen.0.as_deref(), Some("req-1"));
        assert_eq!(seen.1.as_deref(), Some("req-1"));
        assert_eq!(seen.2, None, "a plain spawn starts outside the scope");
        assert_eq!(&*seen.3, "req-1");
        assert_eq!(current(), None);
        let a = for_call();
        let b = for_call();
        assert_ne!(a, b, "outside a scope every call gets its own id");
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }
}
