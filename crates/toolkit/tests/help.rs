//! Every toolkit command the README shows (`cargo xtask COMMAND …` in its
//! code and text, which xtask forwards to `orders-toolkit COMMAND …`)
//! answers `--help`: a documented command that does not run fails here.
//! xtask's own test holds the other half: each README task is one xtask
//! knows, and each of xtask's own tasks answers `--help`.

use std::process::Command;

fn orders_toolkit(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_orders-toolkit"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("orders-toolkit runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The commands `orders-toolkit --help` lists: each indented name under
/// "Commands:".
fn toolkit_commands() -> Vec<String> {
    let (ok, usage) = orders_toolkit(&["--help"]);
    assert!(ok, "{usage}");
    usage
        .split("Commands:")
        .nth(1)
        .expect("the usage lists its commands")
        .lines()
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_toolkit_command_the_readme_shows_answers_help() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let known = toolkit_commands();
    assert!(known.iter().any(|c| c == "local"), "{known:?}");
    let shown: Vec<&str> = known
        .iter()
        .map(String::as_str)
        .filter(|command| {
            [' ', '`', '\n']
                .iter()
                .any(|end| readme.contains(&format!("cargo xtask {command}{end}")))
        })
        .collect();
    assert!(shown.len() >= 8, "{shown:?}");
    for command in shown {
        let args: Vec<&str> = if command == "remote" {
            vec!["remote", "invoke", "--help"]
        } else {
            vec![command, "--help"]
        };
        let (ok, help) = orders_toolkit(&args);
        assert!(ok, "`orders-toolkit {}` failed:\n{help}", args.join(" "));
        // Each command's help opens with its name (and its flags).
        assert!(
            help.lines().take(2).any(|line| line.contains(command)) && !help.contains("error:"),
            "`orders-toolkit {}` printed no help:\n{help}",
            args.join(" ")
        );
    }
}
