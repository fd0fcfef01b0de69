//! The configuration file (`--config FILE`, `SCIMITAR_CONFIG`): TOML whose keys are the flags
//! without their dashes (`listen = "0.0.0.0:8080"`, `max-page-size = 500`). Flags and the
//! environment override it: each setting of the file is handed to the command line parser only
//! when neither named it, so one parser checks all three layers, and an error about a setting
//! from the file names the file.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

/// The arguments of a run with the file's settings added, and which settings came from it.
pub struct Layered {
    /// What the parser accepted, all layers applied.
    pub matches: ArgMatches,
    /// The file, when one was given.
    pub file: Option<PathBuf>,
    /// The settings (flag names without dashes) the file supplied.
    pub from_file: Vec<String>,
}

/// Why the command line and the configuration file could not be read together.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The command line itself (or `--help`, `--version`): clap prints and exits.
    #[error(transparent)]
    Arguments(#[from] clap::Error),
    /// The file, or a setting in it, naming the file and the setting.
    #[error("{0}")]
    File(String),
}

/// Parses `args` with `cmd`, then, when they name a configuration file, again with the file's
/// settings added where the flags and the environment are silent.
pub fn layered(cmd: Command, args: Vec<OsString>) -> Result<Layered, ConfigError> {
    let first = cmd.clone().try_get_matches_from(&args)?;
    let Some(file) = first.get_one::<PathBuf>("config").cloned() else {
        return Ok(Layered {
            matches: first,
            file: None,
            from_file: Vec::new(),
        });
    };
    let table = read(&file).map_err(ConfigError::File)?;
    let (command, matches) = deepest(&cmd, &first);
    let mut added = args;
    let mut from_file = Vec::new();
    for (key, value) in &table {
        // The command's own flags, or the root's (the log format), which every command takes.
        let Some(arg) = find(&command, key).or_else(|| find(&cmd, key)) else {
            if known(&cmd, key) {
                // A setting of another command (`serve`'s limits while running `tenant`).
                continue;
            }
            return Err(ConfigError::File(format!(
                "{}: there is no setting `{key}` (a setting is a flag of `scimitar serve` without its dashes)",
                file.display()
            )));
        };
        let id = arg.get_id().as_str();
        if matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let flag = |v: String| OsString::from(format!("--{key}={v}"));
        match (arg.get_action(), value) {
            (ArgAction::SetTrue, toml::Value::Boolean(true)) => {
                added.push(OsString::from(format!("--{key}")));
            }
            (ArgAction::SetTrue, toml::Value::Boolean(false)) => {}
            (ArgAction::SetTrue, other) => {
                return Err(ConfigError::File(format!(
                    "{}: `{key}` takes true or false, not a {}",
                    file.display(),
                    other.type_str()
                )));
            }
            (_, toml::Value::Array(items)) => {
                let items = items
                    .iter()
                    .map(|v| scalar(&file, key, v))
                    .collect::<Result<Vec<_>, _>>()?;
                added.push(flag(items.join(",")));
            }
            (_, value) => added.push(flag(scalar(&file, key, value)?)),
        }
        from_file.push(key.clone());
    }
    let matches = cmd.try_get_matches_from(added).map_err(|e| {
        let culprit = e
            .get(clap::error::ContextKind::InvalidArg)
            .map(ToString::to_string)
            .unwrap_or_default();
        match from_file
            .iter()
            .find(|k| culprit.starts_with(&format!("--{k}")))
        {
            Some(key) => {
                let said = e.to_string();
                let first = said.lines().next().unwrap_or_default();
                ConfigError::File(format!(
                    "setting `{key}` in {}: {}",
                    file.display(),
                    first.trim_start_matches("error: ")
                ))
            }
            None => ConfigError::Arguments(e),
        }
    })?;
    Ok(Layered {
        matches,
        file: Some(file),
        from_file,
    })
}

fn read(file: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the configuration file {}: {e}", file.display()))?;
    text.parse::<toml::Table>()
        .map_err(|e| format!("{} is not valid TOML: {e}", file.display()))
}

/// A TOML scalar as the command line would spell it.
fn scalar(file: &Path, key: &str, value: &toml::Value) -> Result<String, ConfigError> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) | toml::Value::Table(_) => {
            return Err(ConfigError::File(format!(
                "{}: `{key}` takes a value or a list of values, not a {}",
                file.display(),
                value.type_str()
            )));
        }
    })
}

/// The subcommand that runs, and its matches.
fn deepest(cmd: &Command, matches: &ArgMatches) -> (Command, ArgMatches) {
    let mut command = cmd.clone();
    let mut matches = matches.clone();
    while let Some((name, sub)) = matches.subcommand() {
        let Some(next) = command.find_subcommand(name).cloned() else {
            break;
        };
        let sub = sub.clone();
        command = next;
        matches = sub;
    }
    (command, matches)
}

/// The argument of `cmd` (not of its subcommands) whose long flag is `key`.
fn find<'a>(cmd: &'a Command, key: &str) -> Option<&'a Arg> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(key) && key != "config")
}

/// Whether any command takes `key`.
fn known(cmd: &Command, key: &str) -> bool {
    find(cmd, key).is_some() || cmd.get_subcommands().any(|c| known(c, key))
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A flag on the command line.
    Flag,
    /// This environment variable.
    Environment(String),
    /// This configuration file.
    File(PathBuf),
    /// No layer set it.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Flag => f.write_str("flag"),
            Self::Environment(var) => write!(f, "environment {var}"),
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Default => f.write_str("default"),
        }
    }
}

/// One setting of the command that ran, for `scimitar config check` and for errors.
pub struct Effective {
    /// The flag's name without its dashes.
    pub name: String,
    /// Its value; `None` when it is not set. Secrets and a database URL's password are masked.
    pub value: Option<String>,
    /// Where the value came from.
    pub source: Source,
}

/// Each setting of the command that ran.
pub fn effective(cmd: &Command, layered: &Layered) -> Vec<Effective> {
    let (command, matches) = deepest(cmd, &layered.matches);
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // The root's own flags (global ones, as the log format) are not listed on the subcommand.
    for arg in cmd.get_arguments().chain(command.get_arguments()) {
        let (Some(long), id) = (arg.get_long(), arg.get_id().as_str()) else {
            continue;
        };
        if matches!(long, "help" | "version" | "config") || !seen.insert(long) {
            continue;
        }
        let values: Vec<String> = matches
            .get_raw(id)
            .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let value = match arg.get_action() {
            ArgAction::SetTrue => Some(matches.get_flag(id).to_string()),
            _ if values.is_empty() => None,
            _ => Some(masked(long, &values.join(","))),
        };
        let source = match (&layered.file, matches.value_source(id)) {
            (Some(file), _) if layered.from_file.iter().any(|k| k == long) => {
                Source::File(file.clone())
            }
            (_, Some(ValueSource::CommandLine)) => Source::Flag,
            (_, Some(ValueSource::EnvVariable)) => Source::Environment(
                arg.get_env()
                    .map(|e| e.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            _ => Source::Default,
        };
        out.push(Effective {
            name: long.to_owned(),
            value,
            source,
        });
    }
    out
}

fn masked(long: &str, value: &str) -> String {
    if long.contains("secret") {
        return "***".to_owned();
    }
    // postgres://user:password@host/db
    if let Some((scheme, rest)) = value.split_once("://")
        && let Some((credentials, host)) = rest.split_once('@')
        && let Some((user, _)) = credentials.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    value.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_passwords_are_masked() {
        assert_eq!(masked("admin-jwt-secret", "s3cr3t"), "***");
        assert_eq!(
            masked("database-url", "postgres://app:pw@db:5432/scim"),
            "postgres://app:***@db:5432/scim"
        );
        assert_eq!(
            masked("database-url", "sqlite://scimitar.db"),
            "sqlite://scimitar.db"
        );
    }
}
