//! Tidy: the architecture invariants of ARCHITECTURE.md, held by tests, so
//! `cargo xtask test-unit` fails when a boundary is crossed.

use std::collections::{BTreeMap, BTreeSet};
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

/// A crate's folder name.
fn crate_name(dir: &Path) -> String {
    dir.file_name()
        .expect("a crate folder has a name")
        .to_string_lossy()
        .into_owned()
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
    let mut args = vec!["tree", "--package", package, "--edges", "normal"];
    args.extend_from_slice(extra);
    args.extend(["--prefix", "none", "--format", "{p}"]);
    cargo_output(&args)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// What `cargo args…` prints, run in the project root. The answer depends
/// only on the manifests and the lock file, so it is kept under
/// `target/tidy/`, keyed by a hash of those and of `args`: the tidy tests
/// run `cargo tree` once per change of a manifest, not once per run.
fn cargo_output(args: &[&str]) -> String {
    let root = project_root();
    let mut key = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&args, &mut key);
    let mut manifests = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    manifests.extend(workspace_manifests());
    for manifest in &manifests {
        std::hash::Hash::hash(&fs::read(manifest).unwrap_or_default(), &mut key);
    }
    let cached = crate::server::target_dir()
        .join("tidy")
        .join(format!("{:016x}", std::hash::Hasher::finish(&key)));
    if let Ok(text) = fs::read_to_string(&cached) {
        return text;
    }
    let output = Command::new(cargo())
        .args(args)
        .current_dir(&root)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    // Written aside and renamed, so a test running beside reads all or nothing.
    let _ = fs::create_dir_all(cached.parent().unwrap_or(&root));
    let aside = cached.with_extension(format!("{}", std::process::id()));
    if fs::write(&aside, &text).is_ok() {
        let _ = fs::rename(&aside, &cached);
    }
    text
}

/// Every `Cargo.toml` of the workspace's members, below the root.
fn workspace_manifests() -> Vec<PathBuf> {
    let mut manifests = Vec::new();
    let mut stack = vec![project_root().join("crates"), project_root().join("xtask")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(std::result::Result::ok) {
            let path = entry.path();
            if path.is_dir()
                && path
                    .file_name()
                    .is_some_and(|n| n != "target" && n != "src")
            {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "Cargo.toml") {
                manifests.push(path);
            }
        }
    }
    manifests.sort();
    manifests
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
        let name = crate_name(&dir);
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

/// Each package of a `--workspace` build with the feature sets it is
/// compiled with, as `cargo tree` resolves them over `edges`
/// (`normal,build` for a build of binaries, `normal,build,dev` for a build
/// of tests). A package can have two: one for the target, one for build
/// scripts and proc macros.
fn workspace_features(edges: &str) -> BTreeMap<String, BTreeSet<String>> {
    let output = cargo_output(&[
        "tree",
        "--workspace",
        "--edges",
        edges,
        "--prefix",
        "none",
        "--format",
        "{p}|{f}",
    ]);
    let mut packages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (package, features) in output.lines().filter_map(|line| line.split_once('|')) {
        let package = package.trim_end_matches(" (*)").trim();
        let features = features.trim_end_matches(" (*)").trim();
        packages
            .entry(package.to_owned())
            .or_default()
            .insert(features.to_owned());
    }
    packages
}

/// Each `(package, features)` a build of binaries compiles that a build of
/// tests does not: what a stage that builds binaries after
/// the tests were built would compile a second time.
fn compiled_again(
    binaries: &BTreeMap<String, BTreeSet<String>>,
    tests: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut again = Vec::new();
    for (package, feature_sets) in binaries {
        let built = tests.get(package);
        for features in feature_sets {
            if !built.is_some_and(|sets| sets.contains(features)) {
                again.push(format!(
                    "{package}: [{features}], tests build it with {:?}",
                    built.cloned().unwrap_or_default()
                ));
            }
        }
    }
    again
}

/// One dependency build for every stage: the unit, integration and e2e
/// stages build with `--workspace` (xtask `test.rs`), some of them tests
/// (dev-dependencies on), some only binaries (`cargo build --bins`, the
/// local cloud's function builds). Cargo compiles a third-party crate once
/// per feature set, so a feature a dev-dependency turns on that no normal
/// dependency does would compile that crate, and everything above it, a
/// second time. `workspace-hack`'s normal dependencies carry those features.
#[test]
fn building_binaries_and_building_tests_resolve_the_same_features() {
    let binaries = workspace_features("normal,build");
    let tests = workspace_features("normal,build,dev");
    assert!(
        binaries.keys().any(|p| p.starts_with("aws-sdk-dynamodb ")),
        "cargo tree output: {binaries:?}"
    );
    let again = compiled_again(&binaries, &tests);
    assert!(
        again.is_empty(),
        "a build of binaries after a build of tests would compile these again, with features \
         only dev-dependencies turn on in the tests' build (turn them on in \
         crates/workspace-hack/Cargo.toml):\n{}",
        again.join("\n")
    );
}

#[test]
fn a_feature_only_a_dev_dependency_turns_on_is_found() {
    let set = |s: &[&str]| s.iter().map(|f| (*f).to_owned()).collect::<BTreeSet<_>>();
    let binaries = BTreeMap::from([
        ("serde_json v1.0.0".to_owned(), set(&["std"])),
        ("domain v0.1.0 (/w/crates/domain)".to_owned(), set(&[""])),
    ]);
    let tests = BTreeMap::from([
        ("serde_json v1.0.0".to_owned(), set(&["preserve_order,std"])),
        (
            "domain v0.1.0 (/w/crates/domain)".to_owned(),
            set(&["mocks"]),
        ),
    ]);
    let again = compiled_again(&binaries, &tests);
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(
        again[0].starts_with("domain v0.1.0 (/w/crates/domain): []"),
        "{again:?}"
    );
    assert!(
        again[1].starts_with("serde_json v1.0.0: [std]"),
        "{again:?}"
    );
    assert!(compiled_again(&binaries, &binaries).is_empty());
}

/// The crate map of ARCHITECTURE.md: each crate (or `prefix-*`) with the
/// workspace crates it may depend on, from its `crate-map` block.
fn crate_map(text: &str) -> Vec<(String, BTreeSet<String>)> {
    let block = text
        .split("```crate-map\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("ARCHITECTURE.md has a ```crate-map block");
    block
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (name, deps) = line
                .trim()
                .split_once(char::is_whitespace)
                .unwrap_or((line.trim(), "-"));
            let deps = deps
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty() && *d != "-")
                .map(str::to_owned)
                .collect();
            (name.to_owned(), deps)
        })
        .collect()
}

/// Each workspace package with the workspace crates it depends on
/// normally, from `cargo metadata`.
fn workspace_graph() -> BTreeMap<String, BTreeSet<String>> {
    let metadata = cargo_output(&["metadata", "--format-version", "1", "--no-deps"]);
    // xtask has no JSON parser. In cargo's output a package object is
    // `{"name":…,"version":…,…,"dependencies":[…],"targets":…`; a
    // dependency object is `{"name":…,"source":…,"kind":…`. With
    // `--no-deps` the packages are the workspace's members.
    let chunks: Vec<&str> = metadata.split("\"dependencies\":[").collect();
    let listed: Vec<(&str, &str)> = chunks
        .windows(2)
        .filter_map(|pair| {
            let name = pair[0]
                .rsplit("{\"name\":\"")
                .next()?
                .split_once("\",\"version\":\"")?
                .0;
            Some((name, pair[1].split("],\"targets\"").next()?))
        })
        .collect();
    let names: BTreeSet<&str> = listed.iter().map(|(name, _)| *name).collect();
    listed
        .iter()
        .map(|(name, list)| {
            let deps = list
                .split("{\"name\":\"")
                .skip(1)
                .filter(|dep| dep.contains("\"kind\":null"))
                .filter_map(|dep| dep.split('"').next())
                .filter(|dep| names.contains(dep))
                .map(str::to_owned)
                .collect();
            ((*name).to_owned(), deps)
        })
        .collect()
}

/// What differs between the map and the workspace: a crate missing from
/// either, or a dependency the map does not allow or the crate lacks.
fn crate_map_differences(
    map: &[(String, BTreeSet<String>)],
    graph: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let entry_for = |package: &str| {
        map.iter().find(|(name, _)| match name.strip_suffix('*') {
            Some(prefix) => package.starts_with(prefix),
            None => name == package,
        })
    };
    let mut differences = Vec::new();
    for (package, deps) in graph {
        match entry_for(package) {
            None => differences.push(format!("{package} is not in the crate map")),
            Some((_, allowed)) if allowed != deps => differences.push(format!(
                "{package}: the map says {allowed:?}, Cargo.toml says {deps:?}"
            )),
            Some(_) => {}
        }
    }
    for (name, _) in map {
        if !name.ends_with('*') && !graph.contains_key(name) {
            differences.push(format!("the crate map names {name}, which is no package"));
        }
    }
    differences
}

#[test]
fn the_crate_map_is_the_workspace() {
    let text = fs::read_to_string(project_root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let graph = workspace_graph();
    assert!(
        graph.get("app").is_some_and(|d| d.contains("domain")),
        "{graph:?}"
    );
    let differences = crate_map_differences(&crate_map(&text), &graph);
    assert!(
        differences.is_empty(),
        "ARCHITECTURE.md's crate map and the workspace differ:\n{}",
        differences.join("\n")
    );
}

#[test]
fn a_dependency_the_crate_map_does_not_allow_is_named() {
    let map = crate_map("```crate-map\ndomain  -\napp     domain\nsample-*  -\n```\n");
    let set = |s: &[&str]| s.iter().map(|d| (*d).to_owned()).collect::<BTreeSet<_>>();
    let graph = BTreeMap::from([
        ("domain".to_owned(), set(&["app"])),
        ("app".to_owned(), set(&["domain"])),
        ("sample-x".to_owned(), set(&[])),
        ("new".to_owned(), set(&[])),
    ]);
    let differences = crate_map_differences(&map, &graph);
    assert_eq!(differences.len(), 2, "{differences:?}");
    assert!(differences[0].starts_with("domain: the map says {}"));
    assert_eq!(differences[1], "new is not in the crate map");
}

/// A crate's top-level modules (`src/NAME.rs`, `src/NAME/mod.rs`), each
/// with the top-level modules its non-test code names as `crate::OTHER`.
/// Submodules count as their top-level module.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(src) {
        let Ok(relative) = file.strip_prefix(src) else {
            continue;
        };
        let Some(first) = relative.components().next() else {
            continue;
        };
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if matches!(module.as_str(), "lib" | "main" | "bin" | "tests") || module.ends_with("_tests")
        {
            continue;
        }
        let text = non_test_code(&file);
        let named = graph.entry(module.clone()).or_default();
        for rest in text.split("crate::").skip(1) {
            let mut names = vec![];
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or_default();
                names.extend(
                    group
                        .split(',')
                        .map(|n| n.trim().split("::").next().unwrap_or_default()),
                );
            } else {
                names.push(
                    rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or_default(),
                );
            }
            for name in names {
                if !name.is_empty() && name != module {
                    named.insert(name.to_owned());
                }
            }
        }
    }
    // Only modules name modules; what the crate root re-exports is not one.
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for named in graph.values_mut() {
        named.retain(|n| modules.contains(n));
    }
    graph
}

/// A cycle of the graph, as the modules along it, if it has one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// The crates whose modules still import each other in a circle: the
/// emulator's split into a crate of its own takes the toolkit's apart.
const MODULE_CYCLES_LEFT: [&str; 1] = ["toolkit"];

#[test]
fn no_two_modules_of_a_crate_import_each_other_in_a_circle() {
    let mut checked = 0;
    for dir in crate_dirs() {
        let name = crate_name(&dir);
        if MODULE_CYCLES_LEFT.contains(&name.as_str()) {
            continue;
        }
        let graph = module_graph(&dir.join("src"));
        checked += graph.len();
        if let Some(cycle) = find_cycle(&graph) {
            panic!(
                "{name}: its modules import each other in a circle: {}; move what both \
                 need into a module both can see",
                cycle.join(" -> ")
            );
        }
    }
    assert!(checked > 20, "only {checked} modules read");
}

#[test]
fn a_circle_of_modules_is_found() {
    let set = |s: &[&str]| s.iter().map(|d| (*d).to_owned()).collect::<BTreeSet<_>>();
    let graph = BTreeMap::from([
        ("wire".to_owned(), set(&["names", "problem"])),
        ("problem".to_owned(), set(&["wire"])),
        ("names".to_owned(), set(&[])),
    ]);
    assert_eq!(
        find_cycle(&graph),
        Some(vec![
            "problem".to_owned(),
            "wire".to_owned(),
            "problem".to_owned()
        ])
    );
    let mut fixed = graph.clone();
    fixed.insert("problem".to_owned(), set(&["names"]));
    assert_eq!(find_cycle(&fixed), None);
}

/// Key shapes only `adapters-dynamo` may spell (split, so this file does
/// not spell them either).
const KEY_SHAPES: [&str; 3] = [
    concat!("ORDER", "#"),
    concat!("\"META", "DATA\""),
    concat!("\"G", "SI"),
];

#[test]
fn only_the_dynamodb_adapter_spells_the_tables_key_shapes() {
    let mut spelled = Vec::new();
    let mut read = 0;
    for dir in crate_dirs() {
        if dir.ends_with("adapters-dynamo") {
            continue;
        }
        for file in rust_files(&dir) {
            read += 1;
            let text = fs::read_to_string(&file).expect("readable");
            for (n, line) in text.lines().enumerate() {
                if let Some(shape) = KEY_SHAPES.iter().find(|s| line.contains(*s)) {
                    spelled.push(format!("{}:{}: {shape}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(read > 100, "only {read} files read");
    assert!(
        spelled.is_empty(),
        "only adapters-dynamo knows the table's keys (use adapters_dynamo::keys):\n{}",
        spelled.join("\n")
    );
}

/// The crates whose public functions may still return `Result<_, String>`:
/// the toolkit's errors are typed when the emulator gets a crate of its
/// own; xtask has no dependencies, so no `thiserror`.
const STRING_ERRORS_LEFT: [&str; 2] = ["toolkit", "xtask"];

/// The public functions of `text` (non-test code) whose error is a
/// `String`, by signature.
fn string_error_functions(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("pub ") {
        let rest = &text[at..];
        let head = rest.split(['{', ';']).next().unwrap_or_default();
        let Some(signature) = head.strip_prefix("pub ").filter(|s| {
            s.starts_with("fn ") || s.starts_with("async fn ") || s.starts_with("const fn ")
        }) else {
            continue;
        };
        let flat: String = signature.split_whitespace().collect::<Vec<_>>().join(" ");
        let returns = flat.split(" where ").next().unwrap_or_default();
        if let Some((_, result)) = returns.rsplit_once("-> Result<")
            && result
                .trim_end()
                .trim_end_matches('>')
                .trim_end()
                .ends_with(", String")
        {
            found.push(flat);
        }
    }
    found
}

#[test]
fn no_public_function_returns_a_string_as_its_error() {
    let mut found = Vec::new();
    for dir in crate_dirs() {
        if STRING_ERRORS_LEFT.contains(&crate_name(&dir).as_str()) {
            continue;
        }
        for file in rust_files(&dir.join("src")) {
            for signature in string_error_functions(&non_test_code(&file)) {
                found.push(format!("{}: {signature}", file.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a public function's error is a String (give it a thiserror enum that keeps the source):\n{}",
        found.join("\n")
    );
}

#[test]
fn a_string_error_in_a_public_signature_is_found() {
    let text = "pub fn start(\n    config: &Config,\n) -> Result<Self, String> {\n}\n\
                pub(crate) fn inner() -> Result<(), String> {}\n\
                pub async fn warm_up(&self) -> Result<(), WarmUpError> {}\n\
                pub fn pairs() -> Result<Vec<(String, String)>, Error> {}\n";
    assert_eq!(
        string_error_functions(text),
        vec!["fn start( config: &Config, ) -> Result<Self, String>".to_owned()]
    );
}
