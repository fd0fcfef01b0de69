//! Runs scenarios against a SCIM server: every step in order, each judged on its own, then a
//! DELETE of everything the scenario created and did not delete itself.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::ConformanceError;
use super::check::{self, excerpt};
use super::client::{Client, Request, Response};
use super::report::{CleanupReport, Report, ScenarioReport, StepReport, outcome_text};
use super::scenario::{Capture, Scenario, Step};
use super::template::{self, TemplateError, Vars};

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The SCIM base URL, e.g. `https://scim.example.com/scim/v2`.
    pub url: String,
    /// A bearer token of a tenant the runner may create and delete users and groups in.
    pub token: String,
    /// The domain of test users' e-mail addresses (`{{domain}}`).
    pub email_domain: String,
    /// How long to wait for each response.
    pub timeout: Duration,
}

/// Runs scenarios against one server.
pub struct Runner {
    client: Client,
    builtins: Vars,
}

/// A resource a scenario created, to delete if the scenario does not.
struct Created {
    path: String,
}

impl Runner {
    /// Prepares a run: checks the URL and draws the per-run values (`{{run}}`, `{{run_uuid}}`),
    /// so names never collide with an earlier run's leftovers on a shared server.
    pub fn new(options: &Options) -> Result<Self, ConformanceError> {
        let client = Client::new(&options.url, &options.token, options.timeout)?;
        let domain = options.email_domain.trim();
        let valid_domain = domain.contains('.')
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !valid_domain {
            return Err(ConformanceError::BadDomain(options.email_domain.clone()));
        }
        let mut builtins = Vars::default();
        let run = uuid::Uuid::new_v4().simple().to_string();
        builtins.set("run", run[..10].into());
        builtins.set("run_uuid", uuid::Uuid::new_v4().to_string().into());
        builtins.set("domain", domain.into());
        Ok(Self { client, builtins })
    }

    /// Runs the scenarios in order, writing each step's outcome to `out` as it happens and the
    /// `N passed, M failed` line at the end. Progress output is best effort: a closed pipe
    /// does not stop the run (or its cleanup).
    pub fn run(&self, scenarios: &[Scenario], out: &mut dyn Write) -> Report {
        let mut report = Report::default();
        for scenario in scenarios {
            report.scenarios.push(self.run_scenario(scenario, out));
        }
        let _ = writeln!(out, "{}", report.summary());
        report
    }

    fn run_scenario(&self, scenario: &Scenario, out: &mut dyn Write) -> ScenarioReport {
        let _ = writeln!(
            out,
            "\n{} — {} ({} steps)",
            scenario.name,
            scenario.title,
            scenario.steps.len()
        );
        let _ = writeln!(
            out,
            "  follows ({}): {}",
            scenario.confidence.label(),
            scenario.source.join(" ; ")
        );
        let mut vars = self.builtins.clone();
        let mut steps = Vec::new();
        let mut created: Vec<Created> = Vec::new();
        // Scenario::check has made sure every variable renders; one that still does not stays
        // unset, and the steps using it report it.
        for (name, value) in &scenario.vars {
            if let Ok(v) = template::render_value(value, &vars) {
                vars.set(name.clone(), v);
            }
        }
        // Which step captures what, so a step that cannot run can name the step that failed.
        let mut captured_by = BTreeMap::new();
        for (i, step) in scenario.steps.iter().enumerate() {
            for name in step.capture.keys() {
                captured_by.entry(name.as_str()).or_insert(i + 1);
            }
        }
        for (i, step) in scenario.steps.iter().enumerate() {
            let result = self.run_step(i + 1, step, &mut vars, &mut created, &captured_by);
            print_step(out, &result);
            steps.push(result);
        }
        let cleanup = self.clean_up(created, out);
        let report = ScenarioReport {
            name: scenario.name.clone(),
            title: scenario.title.clone(),
            source: scenario.source.clone(),
            steps,
            cleanup,
        };
        let _ = writeln!(
            out,
            "  {}: {} passed, {} failed",
            scenario.name,
            report.passed(),
            report.failed()
        );
        report
    }

    fn run_step(
        &self,
        number: usize,
        step: &Step,
        vars: &mut Vars,
        created: &mut Vec<Created>,
        captured_by: &BTreeMap<&str, usize>,
    ) -> StepReport {
        let mut report = StepReport {
            number,
            name: step.name.clone(),
            quirk: step.quirk.clone(),
            source: step.source.clone(),
            note: step.note.clone(),
            request: format!("{} {}", step.method, step.path),
            sent: false,
            status: None,
            elapsed: Duration::ZERO,
            failures: Vec::new(),
        };
        let req = match Request::render(
            &step.method,
            &step.path,
            &step.headers,
            step.body.as_ref(),
            vars,
        ) {
            Ok(req) => req,
            Err(e) => {
                report.failures.push(match e {
                    TemplateError::Missing(name) if captured_by.contains_key(name.as_str()) => {
                        format!(
                            "not run: it needs {{{{{name}}}}}, which step {} did not capture",
                            captured_by[name.as_str()]
                        )
                    }
                    other => format!("not run: {other}"),
                });
                return report;
            }
        };
        report.request = format!("{} {}", req.method, req.display);
        report.sent = true;
        let started = Instant::now();
        let sent = self.client.send(&req);
        report.elapsed = started.elapsed();
        let res = match sent {
            Ok(res) => res,
            Err(e) => {
                report.failures.push(e);
                return report;
            }
        };
        report.status = Some(res.status);
        // Track before judging: whatever the step expected, a created resource must go.
        track(&req, &res, created, &mut report.failures);
        // A 204 where the step allows it: the content is judged on the resource read back.
        let read = if check::reads_back(&step.expect, &res) {
            match self.client.send(&Request::plain("GET", &req.resource_path)) {
                Ok(read) => {
                    let failures = check::check_read_back(&step.expect, &res, &read, vars);
                    report.failures.extend(failures);
                    Some(read)
                }
                Err(e) => {
                    report.failures.push(format!("read back after 204: {e}"));
                    return report;
                }
            }
        } else {
            report
                .failures
                .extend(check::check(&step.expect, &res, vars));
            None
        };
        if report.failures.is_empty() {
            for (name, capture) in &step.capture {
                match captured(capture, read.as_ref().unwrap_or(&res)) {
                    Some(v) => vars.set(name.clone(), v),
                    None => report.failures.push(format!(
                        "cannot capture {{{{{name}}}}}: the response has no {}",
                        match capture {
                            Capture::Pointer(p) => format!("value at {p}"),
                            Capture::Header { header } => format!("{header} header"),
                        }
                    )),
                }
            }
        }
        report
    }

    /// Deletes what the scenario left, newest first (groups before their members).
    fn clean_up(&self, created: Vec<Created>, out: &mut dyn Write) -> Vec<CleanupReport> {
        created
            .into_iter()
            .rev()
            .map(|c| {
                let outcome = self
                    .client
                    .send(&Request::plain("DELETE", &c.path))
                    .map(|res| res.status);
                let report = CleanupReport {
                    path: c.path,
                    outcome,
                };
                let _ = writeln!(
                    out,
                    "  {} cleanup: DELETE {} -> {}",
                    if report.succeeded() { "done" } else { "FAIL" },
                    report.path,
                    outcome_text(&report.outcome)
                );
                report
            })
            .collect()
    }
}

/// Remembers a resource a POST created, and forgets one a DELETE removed.
fn track(req: &Request, res: &Response, created: &mut Vec<Created>, failures: &mut Vec<String>) {
    let endpoint = req.resource_path.trim_end_matches('/');
    match (req.method.as_str(), res.status) {
        ("POST", 201) => {
            let id = res
                .body()
                .and_then(|b| b.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    res.header("location")
                        .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
                        .map(str::to_owned)
                })
                .filter(|id| !id.is_empty());
            match id {
                Some(id) => created.push(Created {
                    path: format!("{endpoint}/{id}"),
                }),
                None => failures.push(
                    "the server answered 201 with neither an id nor a Location, so the runner \
                     cannot delete what it created"
                        .into(),
                ),
            }
        }
        ("DELETE", s) if (200..300).contains(&s) || s == 404 => {
            created.retain(|c| c.path != endpoint);
        }
        _ => {}
    }
}

fn captured(capture: &Capture, res: &Response) -> Option<Value> {
    match capture {
        Capture::Pointer(p) => res.body()?.pointer(p).filter(|v| !v.is_null()).cloned(),
        Capture::Header { header } => res.header(header).map(Value::from),
    }
}

fn print_step(out: &mut dyn Write, s: &StepReport) {
    let quirk = s
        .quirk
        .as_ref()
        .map(|q| format!(" [quirk: {q}]"))
        .unwrap_or_default();
    let answer = match s.status {
        Some(status) => format!("{status} ({} ms)", s.elapsed.as_millis()),
        None if s.sent => "no response".into(),
        None => "not sent".into(),
    };
    let _ = writeln!(
        out,
        "  {} {:>2}. {}{quirk}: {} -> {answer}",
        if s.passed() { "PASS" } else { "FAIL" },
        s.number,
        s.name,
        excerpt(&s.request),
    );
    for f in &s.failures {
        let _ = writeln!(out, "           ! {f}");
    }
    if let Some(source) = s.source.as_ref().filter(|_| !s.passed()) {
        let _ = writeln!(out, "           documented: {source}");
    }
    if let Some(note) = s.note.as_ref().filter(|_| !s.passed()) {
        let _ = writeln!(out, "           note: {note}");
    }
}
