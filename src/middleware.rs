//! Middleware that calls the service beneath it directly.
//!
//! `axum::middleware::from_fn` clones the whole service beneath it and boxes it on every
//! request, so that its async function may call it whenever it likes; with several such
//! layers stacked, a request paid for several copies of the stack. The connector's
//! cross-cutting layers look at (or change) the request first and then only await or wrap
//! the answer: [`Around`] describes such a layer, and [`AroundLayer`] makes it a tower layer
//! that calls the inner service in place, one boxed future per request.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};

/// The future of an [`AroundService`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A layer's work on one request: [`Around::before`] runs before the inner service is
/// called, [`Around::after`] awaits its answer.
pub trait Around: Clone + Send + Sync + 'static {
    /// What `before` hands to `after`.
    type Carry: Send + 'static;

    /// Looks at or changes the request. `Err` is the answer: the inner service is not
    /// called.
    fn before(&self, request: &mut Request) -> Result<Self::Carry, Box<Response>>;

    /// Awaits the inner service's answer (`inner`) and returns the response.
    fn after<F>(carry: Self::Carry, inner: F) -> impl Future<Output = Response> + Send + 'static
    where
        F: Future<Output = Response> + Send + 'static;
}

/// [`Around`] as a tower layer.
#[derive(Debug, Clone)]
pub struct AroundLayer<A>(pub A);

impl<A: Clone, S> tower::Layer<S> for AroundLayer<A> {
    type Service = AroundService<A, S>;

    fn layer(&self, inner: S) -> Self::Service {
        AroundService {
            around: self.0.clone(),
            inner,
        }
    }
}

/// The service of an [`AroundLayer`].
#[derive(Debug, Clone)]
pub struct AroundService<A, S> {
    around: A,
    inner: S,
}

impl<A, S> tower::Service<Request> for AroundService<A, S>
where
    A: Around,
    S: tower::Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        match self.around.before(&mut request) {
            Err(response) => Box::pin(std::future::ready(Ok(*response))),
            Ok(carry) => {
                let inner = self.inner.call(request);
                let inner = async move {
                    match inner.await {
                        Ok(response) => response.into_response(),
                        Err(never) => match never {},
                    }
                };
                let after = A::after(carry, inner);
                Box::pin(async move { Ok(after.await) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{HeaderValue, StatusCode};
    use tower::{Layer as _, ServiceExt as _};

    use super::*;

    /// Tags the request, refuses `/no`, and tags the response with what `before` saw.
    #[derive(Clone)]
    struct Tag;

    impl Around for Tag {
        type Carry = String;

        fn before(&self, request: &mut Request) -> Result<String, Box<Response>> {
            if request.uri().path() == "/no" {
                return Err(Box::new(StatusCode::FORBIDDEN.into_response()));
            }
            request
                .headers_mut()
                .insert("x-before", HeaderValue::from_static("1"));
            Ok(request.uri().path().to_owned())
        }

        async fn after<F>(path: String, inner: F) -> Response
        where
            F: Future<Output = Response> + Send + 'static,
        {
            let mut response = inner.await;
            let path = HeaderValue::from_str(&path).expect("a path is a header value");
            response.headers_mut().insert("x-after", path);
            response
        }
    }

    async fn call(path: &str) -> Response {
        let inner = tower::service_fn(|request: Request| async move {
            let seen = request.headers().contains_key("x-before");
            Ok::<_, Infallible>(if seen {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            })
        });
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        AroundLayer(Tag)
            .layer(inner)
            .oneshot(request)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn before_changes_the_request_and_after_the_response() {
        let response = call("/yes").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-after"], "/yes");
    }

    #[tokio::test]
    async fn an_answer_from_before_skips_the_inner_service() {
        let response = call("/no").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(!response.headers().contains_key("x-after"));
    }
}
