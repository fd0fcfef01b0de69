//! The HTTP side of the runner: sends one step's request to any SCIM server and keeps whatever
//! comes back, however odd, for the checks to judge.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use super::ConformanceError;
use super::template::{self, TemplateError, Vars};

/// Largest response body the runner reads; SCIM responses of a scenario are far smaller.
const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// The media type IdPs send and expect (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";

/// A SCIM server to talk to.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
}

/// A response as received.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8).
    pub text: String,
    /// The body as JSON; `None` when empty, an error message when it is not JSON.
    pub json: Option<Result<Value, String>>,
}

impl Response {
    /// The first value of a header (name compared ignoring case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The JSON body, if it has one.
    pub fn body(&self) -> Option<&Value> {
        self.json.as_ref().and_then(|j| j.as_ref().ok())
    }
}

/// A request ready to send: the rendered path for people, the encoded one for the wire.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method.
    pub method: String,
    /// Path and query as written, placeholders filled in, not encoded.
    pub display: String,
    /// Path without the query, for tracking what was created and deleted.
    pub resource_path: String,
    /// Path and query, percent-encoded.
    pub wire: String,
    /// Headers that add to or replace the defaults.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Option<Value>,
}

impl Request {
    /// Renders a step's method, path, headers and body with the current values.
    pub fn render(
        method: &str,
        path: &str,
        headers: &BTreeMap<String, String>,
        body: Option<&Value>,
        vars: &Vars,
    ) -> Result<Self, TemplateError> {
        // Split before rendering, so a captured value with `&` or `=` stays inside its parameter.
        let (raw_path, raw_query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let resource_path = template::render(raw_path, vars)?;
        let mut display = resource_path.clone();
        let mut wire = encode(&resource_path, b"/:@!$&'()*+,;=");
        if let Some(query) = raw_query {
            display.push('?');
            wire.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    display.push('&');
                    wire.push('&');
                }
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let (k, v) = (template::render(k, vars)?, template::render(v, vars)?);
                let _ = write!(display, "{k}={v}");
                let _ = write!(wire, "{}={}", encode(&k, b""), encode(&v, b""));
            }
        }
        Ok(Self {
            method: method.to_owned(),
            display,
            resource_path,
            wire,
            headers: headers
                .iter()
                .map(|(k, v)| Ok((template::render(k, vars)?, template::render(v, vars)?)))
                .collect::<Result<_, TemplateError>>()?,
            body: body.map(|b| template::render_value(b, vars)).transpose()?,
        })
    }

    /// A bodiless request to a path that needs no rendering (the cleanup DELETEs).
    pub fn plain(method: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            display: path.to_owned(),
            resource_path: path.to_owned(),
            wire: encode(path, b"/:@!$&'()*+,;="),
            headers: Vec::new(),
            body: None,
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `keep`.
fn encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

impl Client {
    /// A client for the SCIM base URL (e.g. `https://scim.example.com/scim/v2`) and a bearer token.
    pub fn new(base_url: &str, token: &str, timeout: Duration) -> Result<Self, ConformanceError> {
        let base = base_url.trim().trim_end_matches('/');
        let valid = (base.starts_with("http://") || base.starts_with("https://"))
            && !base.contains(['?', '#', ' ']);
        if !valid {
            return Err(ConformanceError::BadUrl(base_url.to_owned()));
        }
        let agent = ureq::Agent::config_builder()
            // Every status is an answer to judge, not an error.
            .http_status_as_error(false)
            // A redirect is reported as it is: an IdP would not follow it with the same body.
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .user_agent(concat!("scimitar-conformance/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self {
            agent,
            base: base.to_owned(),
            token: token.to_owned(),
        })
    }

    /// Sends a request; `Err` is a message for anything that is not an HTTP response.
    pub fn send(&self, req: &Request) -> Result<Response, String> {
        let url = format!("{}{}", self.base, req.wire);
        let mut builder = ureq::http::Request::builder()
            .method(req.method.as_str())
            .uri(&url);
        let mut defaults = vec![
            ("Authorization", format!("Bearer {}", self.token)),
            ("Accept", SCIM_JSON.to_owned()),
        ];
        if req.body.is_some() {
            defaults.push(("Content-Type", SCIM_JSON.to_owned()));
        }
        for (k, v) in &defaults {
            if !req.headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)) {
                builder = builder.header(*k, v);
            }
        }
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        let result = match &req.body {
            Some(body) => builder
                .body(body.to_string())
                .map_err(|e| format!("cannot build the request: {e}"))
                .and_then(|r| self.agent.run(r).map_err(describe)),
            None => builder
                .body(())
                .map_err(|e| format!("cannot build the request: {e}"))
                .and_then(|r| self.agent.run(r).map_err(describe)),
        };
        let mut res = result?;
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let bytes = res
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| format!("the response body could not be read: {}", describe(e)))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = (!text.trim().is_empty()).then(|| {
            serde_json::from_str(&text).map_err(|e| format!("the response body is not JSON ({e})"))
        });
        Ok(Response {
            status,
            headers,
            text,
            json,
        })
    }
}

fn describe(e: ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("no answer in time ({t})"),
        ureq::Error::Io(io) => format!("connection failed: {io}"),
        other => format!("no HTTP response: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_then_encodes_each_query_parameter() {
        let mut vars = Vars::default();
        vars.set("email", json!("a+b@example.com"));
        vars.set("id", json!("x&y=z"));
        let req = Request::render(
            "GET",
            r#"/Users?filter=userName eq "{{email}}"&excludedAttributes=members&note={{id}}"#,
            &BTreeMap::new(),
            None,
            &vars,
        )
        .expect("renders");
        assert_eq!(
            req.display,
            r#"/Users?filter=userName eq "a+b@example.com"&excludedAttributes=members&note=x&y=z"#
        );
        assert_eq!(
            req.wire,
            "/Users?filter=userName%20eq%20%22a%2Bb%40example.com%22&excludedAttributes=members&note=x%26y%3Dz"
        );
        assert_eq!(req.resource_path, "/Users");
        let req = Request::render("GET", "/Users/{{id}}", &BTreeMap::new(), None, &vars)
            .expect("renders");
        assert_eq!(req.wire, "/Users/x&y=z");
        assert_eq!(
            Request::plain("DELETE", "/Groups/a b").wire,
            "/Groups/a%20b"
        );
    }

    #[test]
    fn refuses_base_urls_it_cannot_append_to() {
        let t = Duration::from_secs(1);
        assert!(Client::new("https://scim.example.com/scim/v2/", "t", t).is_ok());
        for bad in [
            "scim.example.com",
            "ftp://x",
            "https://x/scim/v2?aadOptscim062020",
        ] {
            assert!(
                matches!(Client::new(bad, "t", t), Err(ConformanceError::BadUrl(_))),
                "{bad}"
            );
        }
    }
}
