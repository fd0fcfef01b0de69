//! The request middleware that counts every answer and its time in the application's metrics.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{Error, HttpMessage};

use super::{RoutePattern, TenantCtx};
use crate::metrics::{Metrics, Route, method_label};
use crate::state::AppState;

/// The middleware that counts every request in the application's metrics (shown at
/// `/metrics`): wrap an actix `App` with it, outside the routes it should count. The server
/// wraps both its listeners; a host app that mounts Scimitar wraps its own `App` to count
/// Scimitar's routes (and its own, under their patterns).
#[derive(Clone)]
pub struct RequestMetrics {
    metrics: Arc<Metrics>,
}

impl RequestMetrics {
    /// Counts into `state`'s metrics.
    pub fn new(state: &AppState) -> Self {
        Self {
            metrics: state.metrics.clone(),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequestMetrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = Counted<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(Counted {
            service,
            metrics: self.metrics.clone(),
        }))
    }
}

/// A service whose requests [`RequestMetrics`] counts.
pub struct Counted<S> {
    service: S,
    metrics: Arc<Metrics>,
}

impl<S, B> Service<ServiceRequest> for Counted<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = Counting<S::Future>;

    actix_web::dev::forward_ready!(service);

    /// Counts the request, its status and its time, labelled by route pattern (unmatched paths
    /// share one label), method and, when the operator asked for it, tenant. Runs outside the
    /// log span's middleware, and leaves the pattern in the request for it.
    fn call(&self, req: ServiceRequest) -> Self::Future {
        let began = Instant::now();
        let method = method_label(req.method());
        let pattern = RoutePattern::of(req.request());
        req.extensions_mut().insert(pattern.clone());
        Counting {
            answering: self.service.call(req),
            count: Some(Count {
                metrics: self.metrics.clone(),
                began,
                method,
                route: pattern.0,
            }),
        }
    }
}

/// What a request's count needs once it is answered.
struct Count {
    metrics: Arc<Metrics>,
    began: Instant,
    method: &'static str,
    route: Arc<str>,
}

pin_project_lite::pin_project! {
    /// A request being answered, counted when the answer is ready. A future of its own rather
    /// than a boxed one: the inner service's future stays where it is, unmoved.
    pub struct Counting<F> {
        #[pin]
        answering: F,
        count: Option<Count>,
    }
}

impl<F, B> Future for Counting<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answered = std::task::ready!(this.answering.poll(cx));
        if let Some(count) = this.count.take() {
            let (status, tenant) = match &answered {
                Ok(res) => (
                    res.status(),
                    count
                        .metrics
                        .tenant_label
                        .then(|| {
                            res.request()
                                .extensions()
                                .get::<TenantCtx>()
                                .map(|t| t.tenant.as_str().to_owned())
                        })
                        .flatten(),
                ),
                // Errors raised by a middleware (authentication refused): no tenant is known.
                Err(e) => (e.as_response_error().status_code(), None),
            };
            let route = Route {
                route: count.route,
                method: count.method,
                tenant,
            };
            count
                .metrics
                .request(route, status.as_u16(), count.began.elapsed());
        }
        Poll::Ready(answered)
    }
}
