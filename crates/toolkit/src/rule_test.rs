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
  rule-test RULE --stage STAGE --event FILE [--rule-name NAME] [--bus NAME]
            [--endpoint-url URL]

  RULE             an AWS::Events::Rule's logical id, or a function's
                   EventBridgeRule event name, in the template
  --event FILE     the event as JSON (`-` reads standard input)
  --pattern FILE   test this pattern (JSON) instead of a template rule
  --template FILE  the template (default: infra/template.yaml)
  --stage STAGE    test the rule as deployed on STAGE: its pattern read from
                   EventBridge (DescribeRule; the rule's name from the
                   stage's stack, or --rule-name and --bus) and tested by
                   EventBridge (TestEventPattern); a deployed pattern that
                   differs from the template's is reported as drift
  --endpoint-url   send the calls there instead of AWS

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

/// `rule-test RULE --stage S`: the deployed rule's pattern, read from
/// EventBridge (DescribeRule), tested by EventBridge itself
/// (TestEventPattern), and compared with the template's: a difference is
/// drift. The local matcher names the failing field of a mismatch, and
/// says so when it disagrees with EventBridge.
pub async fn run_remote(
    rule: &str,
    event_source: &str,
    flags: &crate::stage::Flags,
    root: &Path,
) -> Verdict {
    let mut notes = String::new();
    let event = match read_json(event_source, "event", &mut notes) {
        Ok(event) => event,
        Err(e) => return Verdict::error(e),
    };
    let stage = match flags.required("--stage") {
        Ok(stage) => stage,
        Err(e) => return Verdict::usage(&e),
    };
    let template = match Template::load(&root.join("infra/template.yaml")) {
        Ok(t) => t,
        Err(e) => return Verdict::error(e),
    };
    let declared = match template.rule_pattern(rule) {
        Ok(p) => p,
        Err(e) => return Verdict::error(e),
    };
    let remote = match crate::stage::Remote::for_stage(root, &stage, flags.value("--endpoint-url"))
    {
        Ok(r) => r,
        Err(e) => return Verdict::error(e),
    };
    let config = remote.sdk_config().await;
    let (bus, name) = match deployed_rule_name(&remote, &config, &template, rule, flags).await {
        Ok(found) => found,
        Err(e) => return Verdict::error(e),
    };
    let events = aws_sdk_eventbridge::Client::new(&config);
    let mut describe = events.describe_rule().name(&name);
    if let Some(bus) = &bus {
        describe = describe.event_bus_name(bus);
    }
    let described = match describe.send().await {
        Ok(d) => d,
        Err(e) => return Verdict::error(remote.explain("EventBridge DescribeRule", &e)),
    };
    let Some(deployed_text) = described.event_pattern().map(str::to_owned) else {
        return Verdict::error(format!("the deployed rule {name} has no event pattern"));
    };
    let deployed: Value = match serde_json::from_str(&deployed_text) {
        Ok(v) => v,
        Err(e) => {
            return Verdict::error(format!("the deployed pattern of {name} is not JSON: {e}"));
        }
    };
    let test = |pattern: String| {
        events
            .test_event_pattern()
            .event_pattern(pattern)
            .event(event.to_string())
            .send()
    };
    let matched = match test(deployed_text.clone()).await {
        Ok(answer) => answer.result(),
        Err(e) => return Verdict::error(remote.explain("EventBridge TestEventPattern", &e)),
    };
    let local = Pattern::parse(&deployed).map(|p| p.matches(&event));
    // An endpoint that does not implement TestEventPattern (moto answers
    // an empty body, which reads as false) is found out by a pattern the
    // event must match: its own source.
    let matched = if matched {
        true
    } else {
        let probe = serde_json::json!({"source": [event["source"]]}).to_string();
        match test(probe).await {
            Ok(answer) if answer.result() => false,
            Ok(_) => match &local {
                Ok(verdict) => {
                    notes.push_str("note: TestEventPattern at this endpoint does not answer (it says no to the event's own source); the verdict is the local matcher's on the deployed pattern\n");
                    verdict.is_ok()
                }
                Err(e) => {
                    return Verdict::error(format!(
                        "TestEventPattern at this endpoint does not answer, and the local matcher refuses the deployed pattern: {e}"
                    ));
                }
            },
            Err(e) => return Verdict::error(remote.explain("EventBridge TestEventPattern", &e)),
        }
    };
    let mut stdout = String::new();
    let label = format!("{rule} ({name}, deployed on {stage})");
    if matched {
        stdout.push_str(&format!("match: {label} matches {event_source}\n"));
    } else {
        stdout.push_str(&format!(
            "no match: {label} does not match {event_source}\n"
        ));
        if let Ok(Err(mismatch)) = &local {
            stdout.push_str(&format!("  {mismatch}\n"));
        }
    }
    match &local {
        Ok(verdict) if verdict.is_ok() != matched => notes.push_str(&format!(
            "note: the local matcher {} where EventBridge {}\n",
            if verdict.is_ok() {
                "matches"
            } else {
                "does not match"
            },
            if matched { "matches" } else { "does not" }
        )),
        Ok(_) => {}
        Err(e) => notes.push_str(&format!(
            "note: the local matcher refuses the deployed pattern: {e}\n"
        )),
    }
    if deployed != declared {
        stdout.push_str(&format!(
            "drift: the deployed pattern differs from infra/template.yaml\n  deployed: {deployed}\n  template: {declared}\n"
        ));
    }
    Verdict {
        code: if matched { 0 } else { 1 },
        stdout,
        stderr: notes,
    }
}

/// The deployed rule's bus and name: `--rule-name` (and `--bus`), or the
/// stack's physical id of the rule's resource, which for a rule on a
/// custom bus is `BUS|NAME`.
async fn deployed_rule_name(
    remote: &crate::stage::Remote,
    config: &aws_config::SdkConfig,
    template: &Template,
    rule: &str,
    flags: &crate::stage::Flags,
) -> Result<(Option<String>, String), String> {
    if let Some(name) = flags.value("--rule-name") {
        return Ok((flags.value("--bus"), name));
    }
    let logical = template
        .rule_resource_id(rule)
        .ok_or_else(|| format!("no rule named {rule} in infra/template.yaml"))?;
    let physical = remote
        .physical_id(&aws_sdk_cloudformation::Client::new(config), &logical)
        .await?;
    Ok(match physical.split_once('|') {
        Some((bus, name)) => (
            Some(flags.value("--bus").unwrap_or_else(|| bus.to_owned())),
            name.to_owned(),
        ),
        None => (flags.value("--bus"), physical),
    })
}

/// `rule-test` with `--stage`: the rule as deployed.
pub async fn run_stage(args: &[String], root: &Path) -> Verdict {
    let Some((rule, rest)) = args.split_first().filter(|(r, _)| !r.starts_with("--")) else {
        return Verdict::usage("rule-test --stage needs a RULE of the template");
    };
    let flags = match crate::stage::Flags::parse(
        rest,
        &[],
        &[
            "--stage",
            "--event",
            "--rule-name",
            "--bus",
            "--endpoint-url",
        ],
    ) {
        Ok(flags) => flags,
        Err(e) => return Verdict::usage(&e),
    };
    let Some(event) = flags.value("--event") else {
        return Verdict::usage("--event is required");
    };
    run_remote(rule, &event, &flags, root).await
}

/// Whether `args` ask for the deployed rule (`--stage`).
pub fn wants_stage(args: &[String]) -> bool {
    args.iter().any(|a| a == "--stage")
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
