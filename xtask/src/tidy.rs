//! Tidy: the architecture invariants of ARCHITECTURE.md, held by tests, so
//! `cargo xtask test-unit` fails when a boundary is crossed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{cargo, project_root};

fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(project_root().join("crates"))
        .expect("crates/ is readable")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.push(project_root().join("xtask"));
    dirs.sort();
    dirs
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("readable dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every package `domain` depends on when built normally, transitively.
fn domain_dependencies() -> Vec<String> {
    normal_dependencies("domain")
}

/// Every package `package` depends on when built normally, transitively.
fn normal_dependencies(package: &str) -> Vec<String> {
    cargo_tree(package, &[])
}

/// The package names `cargo tree --package package --edges normal extra…`
/// lists, one per line.
fn cargo_tree(package: &str, extra: &[&str]) -> Vec<String> {
    let output = Command::new(cargo())
        .args(["tree", "--package", package, "--edges", "normal"])
        .args(extra)
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(project_root())
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn domain_depends_on_no_aws_lambda_http_json_or_runtime() {
    let deps = domain_dependencies();
    assert!(
        deps.iter().any(|d| d == "domain"),
        "cargo tree output: {deps:?}"
    );
    let forbidden = [
        "aws-",
        "aws_",
        "lambda",
        "hyper",
        "http",
        "serde_json",
        "tokio",
        "reqwest",
    ];
    let crossing: Vec<&String> = deps
        .iter()
        .filter(|d| forbidden.iter().any(|f| d.starts_with(f)))
        .collect();
    assert!(crossing.is_empty(), "domain depends on {crossing:?}");
}

/// The text of a source file that is compiled outside tests: test-only
/// files (`*_tests.rs`) and everything from the first `#[cfg(test)]` on
/// are left out, since tests may use a runtime.
fn non_test_code(file: &Path) -> String {
    if file.to_string_lossy().ends_with("_tests.rs") {
        return String::new();
    }
    let text = fs::read_to_string(file).expect("readable");
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[test]
fn domain_types_carry_no_serde_and_do_no_io() {
    for file in rust_files(&project_root().join("crates/domain/src")) {
        let text = non_test_code(&file);
        for word in [
            "serde",
            "Serialize",
            "Deserialize",
            "std::fs",
            "std::net",
            "std::io",
            "tokio",
            "SystemTime",
            "Instant::now",
            "Utc::now",
        ] {
            assert!(!text.contains(word), "{} mentions {word}", file.display());
        }
    }
}

/// The binaries of the template's functions
/// (`Metadata.BuildProperties.Binary`): the template is the one list.
fn template_binaries() -> Vec<String> {
    let template = fs::read_to_string(project_root().join("infra/template.yaml"))
        .expect("infra/template.yaml");
    let binaries: Vec<String> = template
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Binary:"))
        .map(|b| b.trim().trim_matches('"').to_owned())
        .collect();
    assert!(
        !binaries.is_empty(),
        "the template names no function binary"
    );
    binaries
}

#[test]
fn function_binaries_only_wire() {
    let fns: Vec<PathBuf> = template_binaries()
        .into_iter()
        .map(|binary| project_root().join("crates").join(binary))
        .collect();
    for dir in fns {
        let files = rust_files(&dir.join("src"));
        assert_eq!(
            files,
            [dir.join("src/main.rs")],
            "{}: a function crate holds main.rs only; logic goes in a library crate",
            dir.display()
        );
        let text = fs::read_to_string(&files[0]).expect("readable");
        let code_lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .count();
        assert!(
            code_lines <= 60,
            "{}: {code_lines} lines of code; wiring fits in 60",
            dir.display()
        );
        for banned in [
            ".unwrap()",
            ".expect(",
            "panic!(",
            "unimplemented!(",
            "todo!(",
        ] {
            assert!(
                !text.contains(banned),
                "{}: `{banned}` in a binary",
                dir.display()
            );
        }
    }
}

/// Every function binary's normal dependencies, in one `cargo tree`.
fn function_dependencies(extra: &[&str]) -> Vec<String> {
    let binaries = template_binaries();
    let mut args = Vec::new();
    for binary in &binaries[1..] {
        args.extend(["--package", binary.as_str()]);
    }
    args.extend_from_slice(extra);
    cargo_tree(&binaries[0], &args)
}

#[test]
fn function_binaries_link_no_test_or_toolkit_code() {
    let deps = function_dependencies(&[]);
    for function in template_binaries() {
        assert!(deps.contains(&function), "cargo tree output: {deps:?}");
    }
    let linked: Vec<&String> = deps
        .iter()
        .filter(|d| {
            [
                "testkit",
                "toolkit",
                "local-services",
                "testcontainers",
                "mockall",
                "adapters-memory",
            ]
            .contains(&d.as_str())
        })
        .collect();
    assert!(linked.is_empty(), "the functions link {linked:?}");
}

#[test]
fn the_toolkit_links_no_test_code() {
    let deps = normal_dependencies("toolkit");
    assert!(
        deps.iter().any(|d| d == "toolkit"),
        "cargo tree output: {deps:?}"
    );
    let linked: Vec<&String> = deps
        .iter()
        .filter(|d| ["testkit", "mockall", "proptest"].contains(&d.as_str()))
        .collect();
    assert!(linked.is_empty(), "the toolkit links {linked:?}");
}

#[test]
fn function_binaries_have_one_tls_stack_and_one_version_of_each_http_crate() {
    let deps = function_dependencies(&[]);
    assert!(deps.iter().any(|d| d == "ring"), "no ring in {deps:?}");
    let other_tls: Vec<&String> = deps
        .iter()
        .filter(|d| {
            [
                "aws-lc-rs",
                "aws-lc-sys",
                "openssl",
                "openssl-sys",
                "native-tls",
                "s2n-tls",
            ]
            .contains(&d.as_str())
        })
        .collect();
    assert!(other_tls.is_empty(), "the functions link {other_tls:?}");
    let mut twice = function_dependencies(&["--duplicates", "--depth", "0"]);
    twice.retain(|d| {
        [
            "hyper",
            "http",
            "http-body",
            "h2",
            "rustls",
            "hyper-rustls",
            "tokio-rustls",
        ]
        .contains(&d.as_str())
    });
    twice.dedup();
    assert!(
        twice.is_empty(),
        "the functions link two versions of {twice:?}"
    );
}

#[test]
fn every_crate_uses_the_workspace_lints() {
    let root = fs::read_to_string(project_root().join("Cargo.toml")).expect("root manifest");
    assert!(
        root.contains("unsafe_code = \"forbid\""),
        "the workspace forbids unsafe code"
    );
    for dir in crate_dirs() {
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).expect("manifest");
        assert!(
            manifest.contains("[lints]\nworkspace = true"),
            "{}: add `[lints] workspace = true`",
            dir.display()
        );
    }
}

#[test]
fn every_module_starts_with_a_header_comment() {
    for dir in crate_dirs() {
        for file in rust_files(&dir) {
            let text = fs::read_to_string(&file).expect("readable");
            assert!(
                text.starts_with("//!"),
                "{}: start with a `//!` header saying what it is",
                file.display()
            );
        }
    }
}

#[test]
fn architecture_md_describes_every_crate() {
    let map = fs::read_to_string(project_root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    for dir in crate_dirs() {
        let name = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(
            map.contains(&format!("`{name}`")),
            "ARCHITECTURE.md does not mention `{name}`"
        );
    }
    assert!(
        map.contains("Architecture invariant"),
        "ARCHITECTURE.md states its invariants"
    );
}

/// The pipeline's jobs, by name, each with its text.
fn pipeline_jobs() -> Vec<(String, String)> {
    let text = fs::read_to_string(project_root().join(".github/workflows/pipeline.yml"))
        .expect("the pipeline");
    let jobs = text.split_once("\njobs:\n").expect("a jobs: section").1;
    let mut parsed: Vec<(String, String)> = Vec::new();
    for line in jobs.lines() {
        let is_job = line.len() > 3
            && line.starts_with("  ")
            && !line.starts_with("   ")
            && line.ends_with(':');
        if is_job {
            parsed.push((line.trim().trim_end_matches(':').to_owned(), String::new()));
        } else if let Some((_, body)) = parsed.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    parsed
}

/// Only the build job compiles for Lambda; each deploy job downloads its
/// artifact, checks the binaries' checksums and deploys it as it is, so
/// prod runs what passed on dev.
#[test]
fn the_pipeline_builds_once_and_promotes_that_build() {
    let jobs = pipeline_jobs();
    let compiling: Vec<&str> = jobs
        .iter()
        .filter(|(_, body)| {
            body.contains("--build-only")
                || body.contains("cargo lambda build")
                || body.contains("sam build")
        })
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(compiling, ["build"]);
    let needs = |job: &str| -> String {
        let body = &jobs.iter().find(|(n, _)| n == job).expect(job).1;
        body.lines()
            .find_map(|l| l.trim().strip_prefix("needs: "))
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(needs("deploy-dev"), "build");
    assert_eq!(needs("e2e-dev"), "deploy-dev");
    assert_eq!(needs("deploy-staging"), "e2e-dev");
    assert_eq!(needs("deploy-prod"), "deploy-staging");
    for (name, body) in jobs.iter().filter(|(n, _)| n.starts_with("deploy-")) {
        for wanted in [
            "name: sam-build",
            "sha256sum -c .aws-sam/build/SHA256SUMS",
            "--prebuilt .aws-sam/build --no-confirm-changeset",
            "pip install --require-hashes -r requirements/ci.txt",
        ] {
            assert!(body.contains(wanted), "{name} lacks {wanted:?}");
        }
    }
}

/// The toolchain is pinned to one the machines have; the Python tools of
/// the pipeline are pinned with hashes.
#[test]
fn the_toolchain_and_the_python_tools_are_pinned() {
    let toolchain = fs::read_to_string(project_root().join("rust-toolchain.toml"))
        .expect("rust-toolchain.toml");
    assert!(toolchain.contains("channel = \"1.95.0\""), "{toolchain}");
    let requirements = fs::read_to_string(project_root().join("requirements/ci.txt"))
        .expect("requirements/ci.txt");
    let pins: Vec<&str> = requirements
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()))
        .collect();
    assert!(!pins.is_empty());
    for pin in &pins {
        assert!(pin.contains("=="), "not pinned: {pin}");
    }
    assert!(
        requirements.matches("--hash=sha256:").count() >= pins.len(),
        "every pin has a hash"
    );
    for tool in ["cargo-lambda==", "aws-sam-cli==", "cfn-lint==", "zizmor=="] {
        assert!(requirements.contains(tool), "{tool} is not pinned");
    }
}
