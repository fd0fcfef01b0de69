//! Conformance runs: replay what JumpCloud, Okta, Entra ID, OneLogin and Google Workspace send
//! against any SCIM 2.0 server, so a SaaS developer can prove an endpoint accepts it before a
//! customer switches provisioning on. The scenarios are data (`conformance/scenarios/*.json`,
//! format in `conformance/README.md`), embedded in the binary; this module loads, runs and
//! reports them. `scimitar conformance` is its command line.

pub mod check;
pub mod client;
pub mod replay;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod template;

use std::path::{Path, PathBuf};

pub use runner::{Options, Runner};
pub use scenario::Scenario;

/// A built-in scenario file: its name and its contents, embedded so `scimitar conformance`
/// works from any directory.
macro_rules! builtin {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/conformance/scenarios/",
                $file
            )),
        )
    };
}

/// The scenarios that ship with Scimitar, JumpCloud first: (file name, contents).
pub const BUILTIN: &[(&str, &str)] = &[
    builtin!("jumpcloud-connection.json"),
    builtin!("jumpcloud-groups.json"),
    builtin!("jumpcloud-salesforce-mapping.json"),
    builtin!("okta-users.json"),
    builtin!("okta-group-push.json"),
    builtin!("entra-users.json"),
    builtin!("entra-groups.json"),
    builtin!("onelogin.json"),
    builtin!("google-workspace.json"),
];

/// Why scenarios could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// A scenario file that does not parse or does not make sense.
    #[error("scenario {file}: {problem}")]
    Scenario { file: String, problem: String },
    /// A scenario directory or file that cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A base URL the runner cannot append `/Users` to.
    #[error(
        "the SCIM base URL must be an http:// or https:// URL without query or fragment, e.g. \
         https://scim.example.com/scim/v2; got {0:?}"
    )]
    BadUrl(String),
    /// An e-mail domain that would make every test user's address invalid.
    #[error("the e-mail domain must be a bare domain such as example.com; got {0:?}")]
    BadDomain(String),
    /// `--idp` named nothing.
    #[error("no scenario is for {0:?}; choose from: {1}")]
    NoMatch(String, String),
}

/// The built-in scenarios, parsed.
pub fn builtin() -> Result<Vec<Scenario>, ConformanceError> {
    let parsed = BUILTIN
        .iter()
        .map(|(file, text)| parse(file, text))
        .collect::<Result<Vec<_>, _>>()?;
    unique(parsed)
}

/// Every `*.json` scenario in a directory, in file-name order.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ConformanceError> {
    let read_err = |source| ConformanceError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ConformanceError::Scenario {
            file: dir.display().to_string(),
            problem: "the directory has no *.json scenario files".into(),
        });
    }
    let parsed = files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|source| ConformanceError::Read {
                path: path.clone(),
                source,
            })?;
            parse(&path.display().to_string(), &text)
        })
        .collect::<Result<Vec<_>, _>>()?;
    unique(parsed)
}

/// The scenario in one file.
pub fn load_file(path: &Path) -> Result<Scenario, ConformanceError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConformanceError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&path.display().to_string(), &text)
}

/// The scenarios whose `idp` or `name` is one of `wanted` (ignoring case); all when empty.
pub fn select(all: Vec<Scenario>, wanted: &[String]) -> Result<Vec<Scenario>, ConformanceError> {
    let matches =
        |s: &Scenario, w: &str| s.idp.eq_ignore_ascii_case(w) || s.name.eq_ignore_ascii_case(w);
    for w in wanted {
        if !all.iter().any(|s| matches(s, w)) {
            let mut names: Vec<&str> = all.iter().map(|s| s.idp.as_str()).collect();
            names.dedup();
            names.extend(all.iter().map(|s| s.name.as_str()));
            return Err(ConformanceError::NoMatch(w.clone(), names.join(", ")));
        }
    }
    Ok(all
        .into_iter()
        .filter(|s| wanted.is_empty() || wanted.iter().any(|w| matches(s, w)))
        .collect())
}

fn parse(file: &str, text: &str) -> Result<Scenario, ConformanceError> {
    Scenario::parse(text).map_err(|problem| ConformanceError::Scenario {
        file: file.to_owned(),
        problem,
    })
}

fn unique(scenarios: Vec<Scenario>) -> Result<Vec<Scenario>, ConformanceError> {
    for (i, s) in scenarios.iter().enumerate() {
        if scenarios[..i].iter().any(|t| t.name == s.name) {
            return Err(ConformanceError::Scenario {
                file: s.name.clone(),
                problem: "two scenarios have this name".into(),
            });
        }
    }
    Ok(scenarios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_scenarios_parse_and_name_their_sources() {
        let all = builtin().expect("built-in scenarios are valid");
        assert_eq!(all.len(), BUILTIN.len());
        assert_eq!(all[0].idp, "jumpcloud", "JumpCloud first");
        for idp in ["jumpcloud", "okta", "entra", "onelogin", "google"] {
            assert!(all.iter().any(|s| s.idp == idp), "{idp} has a scenario");
        }
        for s in &all {
            assert!(
                s.source.iter().all(|src| src.starts_with("https://")),
                "{}: every source is a public URL",
                s.name
            );
            assert!(!s.description.is_empty(), "{} has a description", s.name);
        }
        // Each step that speaks Entra's dialect says which quirk it is.
        for s in all.iter().filter(|s| s.idp == "entra") {
            let quirks = s.steps.iter().filter(|st| st.quirk.is_some()).count();
            assert!(quirks >= 3, "{} names its quirks", s.name);
        }
    }

    #[test]
    fn selects_by_idp_or_name() {
        let all = builtin().expect("valid");
        let okta = select(all.clone(), &["OKTA".into()]).expect("okta");
        assert!(okta.len() >= 2 && okta.iter().all(|s| s.idp == "okta"));
        let one = select(all.clone(), &["jumpcloud-groups".into()]).expect("by name");
        assert_eq!(one.len(), 1);
        let err = select(all, &["pingfederate".into()]).expect_err("no match");
        assert!(err.to_string().contains("jumpcloud"), "{err}");
    }
}
