//! `orders-toolkit`: the toolkit's command line, which `cargo xtask` runs.
//! Relative paths are taken from the current directory; the project root
//! (for `infra/template.yaml`) is the nearest directory upwards that has
//! one.

use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "\
orders-toolkit <command> [options]

Commands:
  rule-test   match an event against a rule of the SAM template
              (orders-toolkit rule-test --help)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let here = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let root = here
        .ancestors()
        .find(|dir| dir.join("infra/template.yaml").is_file())
        .map_or_else(|| here.clone(), std::path::Path::to_path_buf);
    let verdict = match args.split_first() {
        Some((command, rest)) if command == "rule-test" => toolkit::rule_test::run(rest, &root),
        Some((help, _)) if help == "--help" || help == "-h" || help == "help" => {
            let _ = std::io::stdout().write_all(USAGE.as_bytes());
            return ExitCode::SUCCESS;
        }
        other => {
            let what = other.map_or("no command".to_owned(), |(c, _)| {
                format!("unknown command `{c}`")
            });
            let _ = writeln!(std::io::stderr(), "error: {what}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let _ = std::io::stdout().write_all(verdict.stdout.as_bytes());
    let _ = std::io::stderr().write_all(verdict.stderr.as_bytes());
    ExitCode::from(verdict.code)
}
