//! What a run found, and its JUnit XML rendering for CI systems.

use std::fmt::Write as _;
use std::time::Duration;

/// The outcome of a whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One entry per scenario, in run order.
    pub scenarios: Vec<ScenarioReport>,
}

/// The outcome of one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// Its sources.
    pub source: Vec<String>,
    /// One entry per step, in order.
    pub steps: Vec<StepReport>,
    /// Resources the runner deleted (or failed to delete) after the last step.
    pub cleanup: Vec<CleanupReport>,
}

/// The outcome of one step.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// 1-based position in the scenario.
    pub number: usize,
    /// The step's name.
    pub name: String,
    /// The IdP quirk it exercises.
    pub quirk: Option<String>,
    /// Where the IdP documents this request, when the step names it.
    pub source: Option<String>,
    /// What the scenario's author says of the step (a replayed step: what was recorded).
    pub note: Option<String>,
    /// `METHOD /path?query` as sent, unencoded.
    pub request: String,
    /// Whether the request was sent (a step whose placeholders have no value is not).
    pub sent: bool,
    /// The response status, when there was a response.
    pub status: Option<u16>,
    /// Time from sending to the end of the response body.
    pub elapsed: Duration,
    /// Unmet expectations; empty when the step passed.
    pub failures: Vec<String>,
}

/// One DELETE of something a scenario left behind.
#[derive(Debug, Clone)]
pub struct CleanupReport {
    /// The resource's path relative to the base URL.
    pub path: String,
    /// The status, or why there was none.
    pub outcome: Result<u16, String>,
}

impl StepReport {
    /// Whether every expectation was met.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl CleanupReport {
    /// Whether the resource is gone (deleted now, or already gone: 404).
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Ok(s) if (200..300).contains(&s) || s == 404)
    }
}

impl ScenarioReport {
    /// Steps that passed.
    pub fn passed(&self) -> usize {
        self.steps.iter().filter(|s| s.passed()).count()
    }

    /// Steps that failed, plus one if anything could not be cleaned up.
    pub fn failed(&self) -> usize {
        let steps = self.steps.iter().filter(|s| !s.passed()).count();
        steps + usize::from(self.cleanup.iter().any(|c| !c.succeeded()))
    }
}

impl Report {
    /// Steps that passed, over all scenarios.
    pub fn passed(&self) -> usize {
        self.scenarios.iter().map(ScenarioReport::passed).sum()
    }

    /// Failures over all scenarios (failed steps and failed clean-ups).
    pub fn failed(&self) -> usize {
        self.scenarios.iter().map(ScenarioReport::failed).sum()
    }

    /// The last line of a run: `N passed, M failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed(), self.failed())
    }

    /// JUnit XML: one `testsuite` per scenario, one `testcase` per step, and a `cleanup`
    /// testcase when something could not be deleted.
    pub fn junit_xml(&self) -> String {
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let total_time: Duration = self
            .scenarios
            .iter()
            .flat_map(|s| &s.steps)
            .map(|s| s.elapsed)
            .sum();
        let _ = writeln!(
            x,
            "<testsuites name=\"scimitar conformance\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">",
            self.passed() + self.failed(),
            self.failed(),
            total_time.as_secs_f64()
        );
        for s in &self.scenarios {
            let time: Duration = s.steps.iter().map(|st| st.elapsed).sum();
            let _ = writeln!(
                x,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">",
                esc(&s.name),
                s.passed() + s.failed(),
                s.failed(),
                time.as_secs_f64()
            );
            let _ = writeln!(x, "    <properties>");
            let _ = writeln!(
                x,
                "      <property name=\"title\" value=\"{}\"/>",
                esc(&s.title)
            );
            for src in &s.source {
                let _ = writeln!(
                    x,
                    "      <property name=\"source\" value=\"{}\"/>",
                    esc(src)
                );
            }
            let _ = writeln!(x, "    </properties>");
            for st in &s.steps {
                let name = match &st.quirk {
                    Some(q) => format!("{:02} {} [quirk: {q}]", st.number, st.name),
                    None => format!("{:02} {}", st.number, st.name),
                };
                let _ = write!(
                    x,
                    "    <testcase classname=\"conformance.{}\" name=\"{}\" time=\"{:.3}\"",
                    esc(&s.name),
                    esc(&name),
                    st.elapsed.as_secs_f64()
                );
                if st.passed() {
                    x.push_str("/>\n");
                } else {
                    let _ = writeln!(
                        x,
                        ">\n      <failure message=\"{}\">{}\n{}</failure>\n    </testcase>",
                        esc(&st.failures[0]),
                        esc(&st.request),
                        esc(&st.failures.join("\n"))
                    );
                }
            }
            let left: Vec<String> = s
                .cleanup
                .iter()
                .filter(|c| !c.succeeded())
                .map(|c| format!("DELETE {}: {}", c.path, outcome_text(&c.outcome)))
                .collect();
            if !left.is_empty() {
                let _ = writeln!(
                    x,
                    "    <testcase classname=\"conformance.{}\" name=\"cleanup\">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    esc(&s.name),
                    esc("could not delete everything the scenario created"),
                    esc(&left.join("\n"))
                );
            }
            let _ = writeln!(x, "  </testsuite>");
        }
        x.push_str("</testsuites>\n");
        x
    }
}

/// A cleanup outcome for people: the status, or the error.
pub fn outcome_text(outcome: &Result<u16, String>) -> String {
    match outcome {
        Ok(status) => status.to_string(),
        Err(e) => e.clone(),
    }
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(number: usize, failures: &[&str]) -> StepReport {
        StepReport {
            number,
            name: format!("step <{number}>"),
            quirk: (number == 2).then(|| "string \"False\"".to_owned()),
            note: None,
            source: None,
            request: "GET /Users?filter=userName eq \"a&b\"".into(),
            sent: true,
            status: Some(200),
            elapsed: Duration::from_millis(5),
            failures: failures.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn counts_and_renders_junit() {
        let report = Report {
            scenarios: vec![ScenarioReport {
                name: "okta-users".into(),
                title: "Okta & friends".into(),
                source: vec!["https://example.com/?a=1&b=2".into()],
                steps: vec![
                    step(1, &[]),
                    step(2, &["/active: expected false, got \"False\"\u{1}"]),
                ],
                cleanup: vec![
                    CleanupReport {
                        path: "/Users/1".into(),
                        outcome: Ok(204),
                    },
                    CleanupReport {
                        path: "/Groups/2".into(),
                        outcome: Err("connection failed".into()),
                    },
                ],
            }],
        };
        assert_eq!(report.summary(), "1 passed, 2 failed");
        let xml = report.junit_xml();
        assert!(
            xml.contains(r#"<testsuites name="scimitar conformance" tests="3" failures="2""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testsuite name="okta-users" tests="3" failures="2""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="01 step &lt;1&gt;" time="0.005"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"[quirk: string &quot;False&quot;]"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<failure message="/active: expected false, got &quot;False&quot;">"#),
            "{xml}"
        );
        assert!(xml.contains("userName eq &quot;a&amp;b&quot;"), "{xml}");
        assert!(xml.contains(r#"value="Okta &amp; friends""#), "{xml}");
        assert!(xml.contains("DELETE /Groups/2: connection failed"), "{xml}");
        assert!(!xml.contains('\u{1}'));
    }
}
