//! Logging: one tracing span per request with its request id and, once authenticated, its
//! tenant id. Bodies, headers and tokens are never recorded.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

/// Installs a subscriber writing to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second call (tests, or a host app with its own subscriber) keeps the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Builds the per-request root span, with an empty `tenant_id` that authentication fills in.
pub struct ScimRootSpan;

impl RootSpanBuilder for ScimRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing_actix_web::root_span!(request, tenant_id = tracing::field::Empty)
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
