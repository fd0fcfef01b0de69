//! Logging: one tracing span per request with its request id and, once authenticated, its
//! tenant id. Bodies, headers, query strings and tokens are never recorded.

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing::field::Empty;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::http::RoutePattern;

/// Installs a subscriber writing to stderr in `format`, filtered by `RUST_LOG` (default
/// `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second call (tests, or a host app with its own subscriber) keeps the first.
    let _ = match format {
        LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // The request span's fields (request id, route, tenant) on every line of the request.
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Builds the per-request root span, with an empty `tenant_id` that authentication fills in.
pub struct ScimRootSpan;

impl RootSpanBuilder for ScimRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        // tracing-actix-web's own span records the query string, where filter values (a
        // userName, an e-mail) travel, and a client address read from forwarding headers any
        // client can set. This one keeps the path and the peer address only.
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        // Found by the metrics middleware when it runs outside this one (as the server mounts
        // them); a host app's own stack may not have it.
        let route = request
            .extensions()
            .get::<RoutePattern>()
            .cloned()
            .unwrap_or_else(|| RoutePattern::of(request.request()));
        let peer = request
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route.0,
            http.target = %request.path(),
            http.client_ip = %peer,
            http.status_code = Empty,
            otel.status_code = Empty,
            exception.message = Empty,
            exception.details = Empty,
            request_id = %request_id,
            tenant_id = Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span.clone(), outcome);
        if let Ok(res) = outcome {
            tracing::info!(parent: &span, status = res.status().as_u16(), "request completed");
        }
    }
}
