//! `logs`: a deployed function's CloudWatch log events, newest last, as
//! the function wrote them (a `REPORT` line is kept as it is), with
//! `--follow` polling for new ones until Ctrl-C.
//!
//! A function's log group is `/aws/lambda/<function name>`, the one the
//! template declares for each function (and Lambda's default).

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use crate::stage::{Flags, Remote};

pub const USAGE: &str = "\
logs FUNCTION --stage STAGE [--since 10m] [--filter TEXT] [--follow]
     [--function-name NAME] [--endpoint-url URL]

Prints a deployed function's log events (CloudWatch Logs, its group
/aws/lambda/NAME), oldest first, each as `TIME MESSAGE`.

  FUNCTION         the function's logical id or binary in the template; its
                   deployed name comes from the stage's stack
  --stage          the stage (stack and region from infra/samconfig.toml)
  --since          how far back: a number and s, m, h or d (default 10m)
  --filter         a CloudWatch Logs filter pattern (a term such as ERROR,
                   or \"a phrase\" in quotes)
  --follow         keep polling every 2 s for new events until Ctrl-C
  --function-name  the deployed name, instead of the stack's
  --endpoint-url   send every call there instead of AWS
";

/// How often `--follow` asks for new events.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// `logs`' flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsOptions {
    pub function: String,
    pub stage: String,
    pub since: Duration,
    pub filter: Option<String>,
    pub follow: bool,
    pub function_name: Option<String>,
    pub endpoint_url: Option<String>,
}

/// `10m`, `90s`, `2h`, `1d`.
pub fn parse_since(text: &str) -> Result<Duration, String> {
    crate::duration::parse(text, "smhd")
        .ok_or_else(|| format!("--since takes a number and s, m, h or d (10m, 2h), not {text:?}"))
}

/// Reads `logs`' flags; `Ok(None)` for help.
pub fn parse_options(args: &[String]) -> Result<Option<LogsOptions>, String> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(None);
    }
    let Some((function, rest)) = args.split_first().filter(|(f, _)| !f.starts_with("--")) else {
        return Err("logs needs a FUNCTION".to_owned());
    };
    let flags = Flags::parse(
        rest,
        &["--follow"],
        &[
            "--stage",
            "--since",
            "--filter",
            "--function-name",
            "--endpoint-url",
        ],
    )?;
    Ok(Some(LogsOptions {
        function: function.clone(),
        stage: flags.required("--stage")?,
        since: parse_since(flags.value("--since").as_deref().unwrap_or("10m"))?,
        filter: flags.value("--filter"),
        follow: flags.switches.contains("--follow"),
        function_name: flags.value("--function-name"),
        endpoint_url: flags.value("--endpoint-url"),
    }))
}

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub id: String,
    pub timestamp_ms: i64,
    pub message: String,
}

impl LogLine {
    /// `TIME MESSAGE`, the time in RFC 3339 UTC; the message as written,
    /// without its trailing newline.
    pub fn render(&self) -> String {
        let time = chrono::DateTime::from_timestamp_millis(self.timestamp_ms).map_or_else(
            || self.timestamp_ms.to_string(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        );
        format!("{time} {}", self.message.trim_end_matches(['\n', '\r']))
    }
}

/// The group's events from `start_ms` on, matching `filter`, oldest first.
pub async fn fetch(
    client: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    start_ms: i64,
    filter: Option<&str>,
) -> Result<Vec<LogLine>, String> {
    let mut lines = Vec::new();
    let mut token: Option<String> = None;
    // FilterLogEvents pages until it gives no token; the cap keeps a
    // misbehaving endpoint from holding the command.
    for _ in 0..1_000 {
        let page = client
            .filter_log_events()
            .log_group_name(group)
            .start_time(start_ms)
            .set_filter_pattern(filter.map(str::to_owned))
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                let text = crate::stage::one_line_error("CloudWatch Logs FilterLogEvents", &e);
                if text.contains("ResourceNotFoundException") {
                    format!("{group} does not exist: the function has not run since it was deployed, or its name is wrong ({text})")
                } else {
                    text
                }
            })?;
        for event in page.events() {
            lines.push(LogLine {
                id: event.event_id().unwrap_or_default().to_owned(),
                timestamp_ms: event.timestamp().unwrap_or_default(),
                message: event.message().unwrap_or_default().to_owned(),
            });
        }
        match page.next_token {
            Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
            _ => break,
        }
    }
    lines.sort_by_key(|l| l.timestamp_ms);
    Ok(lines)
}

/// `logs` from its options: prints to `out` as it goes; with `--follow`,
/// until `stop` completes.
pub async fn run(
    options: &LogsOptions,
    root: &Path,
    out: &mut (dyn std::io::Write + Send),
    stop: impl std::future::Future<Output = ()>,
) -> Result<usize, String> {
    let remote = Remote::for_stage(root, &options.stage, options.endpoint_url.clone())?;
    let config = remote.sdk_config().await;
    let function = match &options.function_name {
        Some(name) => name.clone(),
        None => {
            crate::remote::physical_function(
                &remote,
                &aws_sdk_cloudformation::Client::new(&config),
                root,
                &options.function,
            )
            .await?
        }
    };
    let group = format!("/aws/lambda/{function}");
    let client = aws_sdk_cloudwatchlogs::Client::new(&config);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut start = now_ms - i64::try_from(options.since.as_millis()).unwrap_or(i64::MAX);
    let mut seen = HashSet::new();
    let mut printed = 0;
    let mut stop = std::pin::pin!(stop);
    loop {
        for line in fetch(&client, &group, start, options.filter.as_deref()).await? {
            if seen.insert(line.id.clone()) {
                start = start.max(line.timestamp_ms);
                writeln!(out, "{}", line.render()).map_err(|e| e.to_string())?;
                printed += 1;
            }
        }
        if !options.follow {
            return Ok(printed);
        }
        tokio::select! {
            () = tokio::time::sleep(FOLLOW_EVERY) => {}
            () = &mut stop => return Ok(printed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_number_and_a_unit() {
        assert_eq!(parse_since("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_since("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_since("2h"), Ok(Duration::from_secs(7_200)));
        assert_eq!(parse_since("1d"), Ok(Duration::from_secs(86_400)));
        for bad in ["", "m", "10", "10w", "-1m", "1.5h"] {
            assert!(parse_since(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_line_is_its_time_and_its_message_as_written() {
        let line = LogLine {
            id: "1".into(),
            timestamp_ms: 1_790_000_000_123,
            message: "REPORT RequestId: r-1\tDuration: 1.00 ms\n".into(),
        };
        assert_eq!(
            line.render(),
            "2026-09-21T14:13:20.123Z REPORT RequestId: r-1\tDuration: 1.00 ms"
        );
    }

    #[test]
    fn the_flags_are_read_and_bad_ones_refused() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let options = parse_options(&args(&[
            "EventsFunction",
            "--stage",
            "dev",
            "--since",
            "1h",
            "--filter",
            "REPORT",
            "--follow",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(options.since, Duration::from_secs(3_600));
        assert!(options.follow);
        assert_eq!(options.filter.as_deref(), Some("REPORT"));
        for (bad, why) in [
            (&["--stage", "dev"][..], "needs a FUNCTION"),
            (&["F"][..], "--stage is required"),
            (
                &["F", "--stage", "dev", "--since", "soon"][..],
                "--since takes",
            ),
        ] {
            let err = parse_options(&args(bad)).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}
