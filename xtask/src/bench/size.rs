//! Sizes: the release zips `cargo lambda build` makes, and the HTTP and
//! TLS crates each function links.

use super::*;

/// Builds the zips, records their sizes and the duplicate check; returns
/// each function's unzipped bootstrap.
pub(super) fn sizes(
    report: &mut Report,
    target: &Path,
    path: &str,
    functions: &[Function],
) -> Result<Vec<(Function, PathBuf)>> {
    let mut build = vec![
        "lambda",
        "build",
        "--release",
        "--x86-64",
        "--output-format",
        "zip",
    ];
    for function in functions {
        build.extend(["--package", function.binary.as_str()]);
    }
    cmd::run_with_env(&cmd::cargo(), build, &[("PATH", path)])?;
    let mut text = String::from(
        "`cargo lambda build --release --x86-64 --output-format zip` (the arm64 \
         build runs in the GitHub pipeline; no other target can be added here).\n\n\
         | function | bootstrap.zip | bootstrap |\n|---|---:|---:|\n",
    );
    let mut bootstraps = Vec::new();
    for spec in functions {
        let function = spec.binary.as_str();
        let zip = target.join("lambda").join(function).join("bootstrap.zip");
        let zipped = file_size(&zip)?;
        let out = target.join("bench").join(function);
        let _ = std::fs::remove_dir_all(&out);
        cmd::run(
            "python3",
            [
                "-m",
                "zipfile",
                "-e",
                &zip.to_string_lossy(),
                &out.to_string_lossy(),
            ],
        )?;
        let bootstrap = out.join("bootstrap");
        make_executable(&bootstrap)?;
        let unzipped = file_size(&bootstrap)?;
        let _ = writeln!(
            text,
            "| {function} | {:.2} MB | {:.2} MB |",
            mb(zipped),
            mb(unzipped)
        );
        report.goal(
            format!("{function} bootstrap.zip <= 3.5 MB"),
            format!("{:.2} MB", mb(zipped)),
            mb(zipped) <= 3.5,
        );
        bootstraps.push((spec.clone(), bootstrap));
    }
    text.push_str("\nDuplicate versions of hyper, rustls, http or h2 in the function binaries (`cargo tree -d -e normal`):\n\n");
    for function in functions.iter().map(|f| f.binary.as_str()) {
        let output = Command::new(cmd::cargo())
            .args([
                "tree",
                "--package",
                function,
                "-e",
                "normal",
                "-d",
                "--depth",
                "0",
                "--prefix",
                "none",
            ])
            .current_dir(cmd::project_root())
            .output()
            .map_err(|e| Failed::new(format!("cargo tree: {e}")))?;
        let listing = String::from_utf8_lossy(&output.stdout);
        let mut found: Vec<String> = listing
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| {
                matches!(
                    *name,
                    "hyper"
                        | "rustls"
                        | "http"
                        | "h2"
                        | "hyper-rustls"
                        | "tokio-rustls"
                        | "http-body"
                )
            })
            .map(str::to_owned)
            .collect();
        found.sort();
        found.dedup();
        let _ = writeln!(
            text,
            "- {function}: {}",
            if found.is_empty() {
                "none".to_owned()
            } else {
                found.join(", ")
            }
        );
    }
    report.text("Size", text);
    Ok(bootstraps)
}

pub(super) fn file_size(path: &Path) -> Result<u64> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| Failed::new(format!("{}: {e}", path.display())))
}

pub(super) fn make_executable(path: &Path) -> Result {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Failed::new(format!("{}: {e}", path.display())))
}

pub(super) fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}
