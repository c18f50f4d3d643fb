//! `doctor`: the tutorial's traps, checked. Routes in code against routes
//! in the template (both ways), region agreement, BOMs and broken JSON in
//! event and env files, IAM wildcards, and the tools each task needs.
//!
//! A failed check makes the exit status 1; a missing optional tool is a
//! warning with the command that installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::infra_checks::{route_drift, unguarded_routes, wildcard_grants};
use crate::template::Template;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub check: &'static str,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        write!(f, "{tag}  {:<8} {}", self.check, self.message)
    }
}

fn finding(level: Level, check: &'static str, message: impl Into<String>) -> Finding {
    Finding {
        level,
        check,
        message: message.into(),
    }
}

/// Every check, against the project at `root`, then the tools.
pub fn run(root: &Path) -> Vec<Finding> {
    let mut findings = project_checks(root);
    findings.extend(tools());
    findings
}

/// The checks of the project's files (no tools are run).
pub fn project_checks(root: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    let template_path = root.join("infra/template.yaml");
    match Template::load(&template_path) {
        Err(e) => findings.push(finding(Level::Fail, "template", e.to_string())),
        Ok(template) => {
            findings.extend(routes(&template));
            findings.push(authorizers(&template));
            let grants = wildcard_grants(&template);
            findings.push(if grants.is_empty() {
                finding(
                    Level::Ok,
                    "iam",
                    "no `*` action or resource in the template's policies",
                )
            } else {
                finding(
                    Level::Fail,
                    "iam",
                    format!("wildcard grants: {}", grants.join("; ")),
                )
            });
        }
    }
    findings.extend(regions(root));
    findings.extend(json_files(root));
    findings
}

/// Every route to the HTTP API's function behind an authorizer: one
/// without reaches it with no caller, and is closed to everyone (401).
fn authorizers(template: &Template) -> Finding {
    let context = crate::model::Context {
        region: "us-east-1".to_owned(),
        stack: "local".to_owned(),
        overrides: std::collections::BTreeMap::new(),
        table: None,
        ..Default::default()
    };
    match crate::model::load(template, &context) {
        Err(e) => finding(Level::Fail, "auth", e.to_string()),
        Ok(model) => {
            let open = unguarded_routes(&model);
            if open.is_empty() {
                finding(
                    Level::Ok,
                    "auth",
                    format!("every route to {} has an authorizer", app::HTTP_API_BINARY),
                )
            } else {
                finding(
                    Level::Fail,
                    "auth",
                    format!(
                        "no authorizer on {}: {} answers them 401 (no caller); give the API a DefaultAuthorizer",
                        open.join(", "),
                        app::HTTP_API_BINARY
                    ),
                )
            }
        }
    }
}

fn routes(template: &Template) -> Vec<Finding> {
    let (not_served, not_declared) = route_drift(template);
    let mut out = Vec::new();
    for route in &not_served {
        out.push(finding(
            Level::Fail,
            "routes",
            format!(
                "{route} is declared in {} but {} does not serve it",
                template.path().display(),
                app::HTTP_API_BINARY
            ),
        ));
    }
    for route in &not_declared {
        out.push(finding(
            Level::Fail,
            "routes",
            format!(
                "{route} is served by {} but not declared in {}: API Gateway answers it with 403 Missing Authentication Token",
                app::HTTP_API_BINARY,
                template.path().display()
            ),
        ));
    }
    if out.is_empty() {
        out.push(finding(
            Level::Ok,
            "routes",
            format!(
                "the {} routes of {} are declared in the template, and no others",
                adapters_http::ROUTES.len(),
                app::HTTP_API_BINARY
            ),
        ));
    }
    out
}

/// Regions from samconfig's environments, env files and the environment.
fn regions(root: &Path) -> Vec<Finding> {
    let mut seen: Vec<(String, String)> = Vec::new();
    let samconfig = root.join("infra/samconfig.toml");
    match std::fs::read_to_string(&samconfig).map(|t| t.parse::<toml::Table>()) {
        Ok(Ok(table)) => {
            for (env, sections) in &table {
                if let Some(region) = sections
                    .get("global")
                    .and_then(|g| g.get("parameters"))
                    .and_then(|p| p.get("region"))
                    .and_then(toml::Value::as_str)
                {
                    seen.push((format!("samconfig.toml [{env}]"), region.to_owned()));
                }
            }
        }
        Ok(Err(e)) => {
            return vec![finding(
                Level::Fail,
                "region",
                format!("{}: {e}", samconfig.display()),
            )];
        }
        Err(e) => {
            return vec![finding(
                Level::Fail,
                "region",
                format!("{}: {e}", samconfig.display()),
            )];
        }
    }
    for file in env_files(root) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(value) =
            serde_json::from_str::<serde_json::Value>(text.trim_start_matches('\u{feff}'))
        else {
            continue;
        };
        for (function, vars) in value.as_object().into_iter().flatten() {
            if let Some(region) = vars.get("AWS_REGION").and_then(serde_json::Value::as_str) {
                seen.push((
                    format!("{} ({function})", display(root, &file)),
                    region.to_owned(),
                ));
            }
        }
    }
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Ok(region) = std::env::var(var) {
            seen.push((format!("${var}"), region));
        }
    }
    let Some((_, first)) = seen.first() else {
        return vec![finding(
            Level::Fail,
            "region",
            "no region in infra/samconfig.toml",
        )];
    };
    let disagree: Vec<String> = seen
        .iter()
        .filter(|(_, r)| r != first)
        .map(|(place, r)| format!("{place} says {r}"))
        .collect();
    if disagree.is_empty() {
        vec![finding(
            Level::Ok,
            "region",
            format!("{first} everywhere ({} places)", seen.len()),
        )]
    } else {
        vec![finding(
            Level::Fail,
            "region",
            format!(
                "{} says {first}, but {}: pick one region and use it everywhere",
                seen[0].0,
                disagree.join(", ")
            ),
        )]
    }
}

fn display(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string()
}

/// SAM `--env-vars` files: `env.json` at the root or under `infra/`.
fn env_files(root: &Path) -> Vec<PathBuf> {
    ["env.json", "infra/env.json"]
        .iter()
        .map(|f| root.join(f))
        .filter(|p| p.is_file())
        .collect()
}

fn json_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            json_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn json_files(root: &Path) -> Vec<Finding> {
    let mut files = Vec::new();
    json_under(&root.join("events"), &mut files);
    files.extend(env_files(root));
    files.sort();
    let mut out = Vec::new();
    for file in &files {
        let shown = display(root, file);
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => {
                out.push(finding(Level::Fail, "json", format!("{shown}: {e}")));
                continue;
            }
        };
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            out.push(finding(
                Level::Fail,
                "json",
                format!(
                    "{shown} starts with a UTF-8 BOM; AWS tools fail on it with \"Expecting value: line 1 column 1\". Save it as UTF-8 without BOM"
                ),
            ));
            continue;
        }
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            out.push(finding(
                Level::Fail,
                "json",
                format!("{shown} is not valid JSON: {e}"),
            ));
        }
    }
    if out.is_empty() {
        out.push(finding(
            Level::Ok,
            "json",
            format!("{} event and env files parse, none has a BOM", files.len()),
        ));
    }
    out
}

fn runs(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output.status.success().then(|| {
        let text = if output.stdout.is_empty() {
            output.stderr
        } else {
            output.stdout
        };
        String::from_utf8_lossy(&text)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    })
}

fn tools() -> Vec<Finding> {
    let mut out = Vec::new();
    // (program, version args, what needs it, how to install, required)
    let table: [(&str, &[&str], &str, &str, bool); 7] = [
        (
            "python3",
            &["--version"],
            "moto for the EventBridge tests",
            "apt-get install python3 python3-venv",
            true,
        ),
        (
            "npm",
            &["--version"],
            "the DynamoDB Local jar for the tests",
            "apt-get install npm (or install Node.js 20)",
            true,
        ),
        (
            "cargo-lambda",
            &["--version"],
            "cargo xtask deploy",
            "pip install cargo-lambda",
            false,
        ),
        (
            "sam",
            &["--version"],
            "cargo xtask deploy",
            "pip install aws-sam-cli",
            false,
        ),
        (
            "cfn-lint",
            &["--version"],
            "linting the template (cargo xtask lint installs its own)",
            "pip install cfn-lint",
            false,
        ),
        (
            "docker",
            &["info", "--format", "{{.ServerVersion}}"],
            "DynamoDB Local in a container (Java also works)",
            "apt-get install docker.io && dockerd &",
            false,
        ),
        (
            "aws",
            &["--version"],
            "reading a stack's outputs for test-e2e --api-url",
            "pip install awscli",
            false,
        ),
    ];
    for (program, args, purpose, install, required) in table {
        match runs(program, args) {
            Some(version) => out.push(finding(Level::Ok, "tools", format!("{program}: {version}"))),
            None => out.push(finding(
                if required { Level::Fail } else { Level::Warn },
                "tools",
                format!("{program} not found; needed for {purpose}. Install: {install}"),
            )),
        }
    }
    let java = runs("java", &["-version"]);
    let docker = out
        .iter()
        .any(|f| f.level == Level::Ok && f.message.starts_with("docker:"));
    match java {
        Some(version) => out.push(finding(Level::Ok, "tools", format!("java: {version}"))),
        None if docker => out.push(finding(Level::Warn, "tools", "java not found; DynamoDB Local runs in Docker instead")),
        None => out.push(finding(
            Level::Fail,
            "tools",
            "neither Java 17+ nor a Docker engine: DynamoDB Local cannot run. Install: apt-get install openjdk-17-jre-headless",
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the project's infra/ and events/ to break on purpose.
    fn copy_of_project() -> PathBuf {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let copy = std::env::temp_dir().join(format!(
            "doctor-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&copy);
        for dir in ["infra", "events"] {
            copy_dir(&root.join(dir), &copy.join(dir));
        }
        copy
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).expect("copy");
            }
        }
    }

    fn failures(root: &Path, check: &str) -> Vec<String> {
        project_checks(root)
            .into_iter()
            .filter(|f| f.level == Level::Fail && f.check == check)
            .map(|f| f.message)
            .collect()
    }

    #[test]
    fn the_repository_passes_its_own_checks() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for check in ["template", "routes", "iam", "json"] {
            assert!(
                failures(&root, check).is_empty(),
                "{check}: {:?}",
                failures(&root, check)
            );
        }
    }

    #[test]
    fn a_route_removed_from_the_template_fails_and_is_named() {
        let root = copy_of_project();
        let template = root.join("infra/template.yaml");
        let text = std::fs::read_to_string(&template).expect("template");
        let cut = text.replace(
            "        CancelOrder:\n          Type: Api\n          Properties:\n            RestApiId: !Ref OrdersApi\n            Path: /orders/{orderId}/cancel\n            Method: post\n",
            "",
        );
        assert_ne!(cut, text, "the test's cut must find the route");
        std::fs::write(&template, cut).expect("write");
        let found = failures(&root, "routes");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .starts_with("POST /orders/{orderId}/cancel is served by fn-api but not declared"),
            "{found:?}"
        );
        assert!(found[0].contains("403 Missing Authentication Token"));
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_bom_in_an_event_file_fails_and_is_named() {
        let root = copy_of_project();
        let file = root.join("events/apigw/create-order.json");
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(std::fs::read(&file).expect("event"));
        std::fs::write(&file, bytes).expect("write");
        std::fs::write(root.join("events/broken.json"), "{\"a\":").expect("write");
        let found = failures(&root, "json");
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found
                .iter()
                .any(|m| m.starts_with("events/apigw/create-order.json starts with a UTF-8 BOM")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|m| m.starts_with("events/broken.json is not valid JSON")),
            "{found:?}"
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn regions_that_disagree_fail() {
        let root = copy_of_project();
        std::fs::write(
            root.join("infra/env.json"),
            r#"{"ApiFunction": {"TABLE_NAME": "dev-orders", "AWS_REGION": "eu-west-1"}}"#,
        )
        .expect("write");
        let found = failures(&root, "region");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("infra/env.json (ApiFunction) says eu-west-1"),
            "{found:?}"
        );
        let _ = std::fs::remove_dir_all(root);
    }
}
