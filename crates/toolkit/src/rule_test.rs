//! `rule-test`: does an event match a rule of the template, or a pattern
//! file? Prints the verdict; on a mismatch, the field that failed.
//!
//! Exit status: 0 match, 1 no match, 2 a bad pattern, event or usage.

use std::io::Read;
use std::path::{Path, PathBuf};

use event_pattern::Pattern;
use serde_json::Value;

use crate::template::Template;

pub const USAGE: &str = "\
rule-test: match an event against an EventBridge rule of the SAM template

Usage:
  rule-test RULE --event FILE [--template FILE]
  rule-test --pattern FILE --event FILE

  RULE             an AWS::Events::Rule's logical id, or a function's
                   EventBridgeRule event name, in the template
  --event FILE     the event as JSON (`-` reads standard input)
  --pattern FILE   test this pattern (JSON) instead of a template rule
  --template FILE  the template (default: infra/template.yaml)

Exit status: 0 match, 1 no match, 2 bad pattern, event or usage.
";

/// What a run printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub code: u8,
    pub stdout: String,
    pub stderr: String,
}

impl Verdict {
    fn usage(message: &str) -> Self {
        Self {
            code: 2,
            stdout: String::new(),
            stderr: format!("error: {message}\n\n{USAGE}"),
        }
    }

    fn error(message: impl std::fmt::Display) -> Self {
        Self {
            code: 2,
            stdout: String::new(),
            stderr: format!("error: {message}\n"),
        }
    }
}

#[derive(Debug, Default)]
struct Args {
    rule: Option<String>,
    event: Option<String>,
    pattern: Option<PathBuf>,
    template: Option<PathBuf>,
    help: bool,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |flag: &str| {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match arg.as_str() {
            "--event" => parsed.event = Some(value("--event")?),
            "--pattern" => parsed.pattern = Some(PathBuf::from(value("--pattern")?)),
            "--template" => parsed.template = Some(PathBuf::from(value("--template")?)),
            "-h" | "--help" => parsed.help = true,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            rule if parsed.rule.is_none() => parsed.rule = Some(rule.to_owned()),
            extra => return Err(format!("unexpected argument {extra}")),
        }
    }
    Ok(parsed)
}

/// Reads JSON from a file or `-`, accepting (and reporting) a UTF-8 BOM.
fn read_json(source: &str, what: &str, notes: &mut String) -> Result<Value, String> {
    let mut bytes = Vec::new();
    if source == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read the {what} from standard input: {e}"))?;
    } else {
        bytes =
            std::fs::read(source).map_err(|e| format!("cannot read the {what} {source}: {e}"))?;
    }
    let body = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => {
            notes.push_str(&format!(
                "note: {source} starts with a UTF-8 BOM; AWS tools reject that (save it as UTF-8 without BOM)\n"
            ));
            rest
        }
        None => &bytes,
    };
    serde_json::from_slice(body).map_err(|e| format!("the {what} {source} is not valid JSON: {e}"))
}

/// Runs `rule-test` with `args` (after the subcommand), relative to `root`.
pub fn run(args: &[String], root: &Path) -> Verdict {
    let args = match parse_args(args) {
        Ok(args) => args,
        Err(message) => return Verdict::usage(&message),
    };
    if args.help {
        return Verdict {
            code: 0,
            stdout: USAGE.to_owned(),
            stderr: String::new(),
        };
    }
    let Some(event_source) = args.event else {
        return Verdict::usage("--event is required");
    };
    let mut notes = String::new();
    let (name, pattern) = match (&args.rule, &args.pattern) {
        (Some(_), Some(_)) => return Verdict::usage("give RULE or --pattern, not both"),
        (None, None) => return Verdict::usage("give a RULE of the template, or --pattern FILE"),
        (None, Some(file)) => {
            let source = file.to_string_lossy().into_owned();
            match read_json(&source, "pattern", &mut notes) {
                Ok(pattern) => (source, pattern),
                Err(e) => return Verdict::error(e),
            }
        }
        (Some(rule), None) => {
            let path = args
                .template
                .clone()
                .unwrap_or_else(|| root.join("infra/template.yaml"));
            let loaded = Template::load(&path).and_then(|t| t.rule_pattern(rule));
            match loaded {
                Ok(pattern) => (rule.clone(), pattern),
                Err(e) => return Verdict::error(e),
            }
        }
    };
    let pattern = match Pattern::parse(&pattern) {
        Ok(p) => p,
        Err(e) => return Verdict::error(format!("{name}: {e}")),
    };
    let event = match read_json(&event_source, "event", &mut notes) {
        Ok(event) => event,
        Err(e) => return Verdict::error(e),
    };
    match pattern.matches(&event) {
        Ok(()) => Verdict {
            code: 0,
            stdout: format!("match: {name} matches {event_source}\n"),
            stderr: notes,
        },
        Err(mismatch) => Verdict {
            code: 1,
            stdout: format!("no match: {name} does not match {event_source}\n  {mismatch}\n"),
            stderr: notes,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn run_with(args: &[&str]) -> Verdict {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        run(&args, &root())
    }

    fn temp_file(name: &str, contents: &[u8]) -> String {
        let path = std::env::temp_dir().join(format!("rule-test-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("temp file");
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn the_sample_order_placed_event_matches_the_template_rule() {
        let event = root().join("events/eventbridge/order-placed.json");
        let v = run_with(&["OrderPlacedRule", "--event", &event.to_string_lossy()]);
        assert_eq!(v.code, 0, "{v:?}");
        assert!(
            v.stdout.starts_with("match: OrderPlacedRule matches "),
            "{v:?}"
        );
    }

    #[test]
    fn a_changed_detail_type_does_not_match_and_says_why() {
        let sample = std::fs::read_to_string(root().join("events/eventbridge/order-placed.json"))
            .expect("sample");
        let changed = sample.replace("\"OrderPlaced\"", "\"OrderShipped\"");
        let event = temp_file("shipped.json", changed.as_bytes());
        let v = run_with(&["OrderPlacedRule", "--event", &event]);
        assert_eq!(v.code, 1, "{v:?}");
        assert!(
            v.stdout
                .contains(r#"detail-type: expected "OrderPlaced", found "OrderShipped""#),
            "{v:?}"
        );
    }

    #[test]
    fn a_pattern_file_can_stand_in_for_a_rule() {
        let pattern = temp_file(
            "p.json",
            br#"{"detail": {"items": {"quantity": [{"numeric": [">", 1]}]}}}"#,
        );
        let event = root().join("events/eventbridge/order-placed.json");
        let v = run_with(&["--pattern", &pattern, "--event", &event.to_string_lossy()]);
        assert_eq!(v.code, 0, "{v:?}");
        let strict = temp_file(
            "p2.json",
            br#"{"detail": {"items": {"quantity": [{"numeric": [">", 5]}]}}}"#,
        );
        let v = run_with(&["--pattern", &strict, "--event", &event.to_string_lossy()]);
        assert_eq!(v.code, 1, "{v:?}");
        assert!(v.stdout.contains("detail.items.quantity"), "{v:?}");
    }

    #[test]
    fn bad_input_exits_two_with_the_reason() {
        let event = root().join("events/eventbridge/order-placed.json");
        let event = event.to_string_lossy();
        let not_json = temp_file("bad.json", b"{nope");
        let bad_pattern = temp_file("badp.json", br#"{"source": "orders.api"}"#);
        for (args, reason) in [
            (
                vec!["NoSuchRule", "--event", &*event],
                "no rule named NoSuchRule",
            ),
            (
                vec!["OrderPlacedRule", "--event", &not_json],
                "is not valid JSON",
            ),
            (
                vec!["OrderPlacedRule", "--event", "/nonexistent.json"],
                "cannot read the event",
            ),
            (
                vec!["--pattern", &bad_pattern, "--event", &*event],
                "invalid pattern at source",
            ),
            (vec!["OrderPlacedRule"], "--event is required"),
            (vec!["--event", &*event], "give a RULE"),
            (vec!["A", "B", "--event", &*event], "unexpected argument B"),
            (vec!["A", "--bogus"], "unknown option --bogus"),
        ] {
            let v = run_with(&args);
            assert_eq!(v.code, 2, "{args:?}: {v:?}");
            assert!(v.stderr.contains(reason), "{args:?}: {}", v.stderr);
        }
    }

    #[test]
    fn a_bom_is_accepted_and_pointed_out() {
        let sample =
            std::fs::read(root().join("events/eventbridge/order-placed.json")).expect("sample");
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend(sample);
        let event = temp_file("bom.json", &with_bom);
        let v = run_with(&["OrderPlacedRule", "--event", &event]);
        assert_eq!(v.code, 0, "{v:?}");
        assert!(v.stderr.contains("UTF-8 BOM"), "{v:?}");
    }
}
