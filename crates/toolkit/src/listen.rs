//! `listen`: the events on a bus, for the length of a test or a look.
//!
//! On a stage, a temporary rule on the stage's bus sends what matches the
//! pattern to a temporary SQS queue whose policy lets only that rule send;
//! `close` removes the target, the rule and the queue. On the local cloud,
//! the same API reads the bus's own feed (`GET /events` on the control
//! port) and matches the pattern here. Either way, `wait_for` waits with a
//! deadline for the event a test expects.

use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use event_pattern::Pattern;
use serde_json::{Value, json};

pub const USAGE: &str = "\
listen --stage STAGE [--pattern FILE] [--for 60s] [--count N] [--bus NAME]
       [--endpoint-url URL]
listen --local URL [--pattern FILE] [--for 60s] [--count N]

Prints each event that reaches the bus, one JSON line each, for --for (or
until --count events have arrived, or Ctrl-C), then removes what it made.
On a stage it puts a temporary rule on the stage's bus (the stack's
EventBusName output, or --bus) with a temporary SQS queue as its target; on
the local cloud (--local, its control port, http://127.0.0.1:3001) it reads
the bus's feed.

  --pattern   an EventBridge pattern (JSON) the events must match (default:
              every event)
  --for       how long: a number and s, m or h (default 60s)
  --count     stop once N events have been printed (a script waiting for
              the event it caused ends as soon as it comes)
";

/// Every event: a prefix every source has.
fn match_all() -> Value {
    json!({"source": [{"prefix": ""}]})
}

/// An open listener.
#[derive(Debug)]
pub struct Listener {
    pattern: Pattern,
    feed: Feed,
}

#[derive(Debug)]
enum Feed {
    Stage {
        events: aws_sdk_eventbridge::Client,
        sqs: aws_sdk_sqs::Client,
        bus: String,
        rule: String,
        queue_url: String,
    },
    Local {
        http: reqwest::Client,
        url: String,
        after: u64,
    },
}

/// A name no other listener has: `orders-listen-<time><pid>`.
fn temporary_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "orders-listen-{:x}{}",
        nanos & 0xffff_ffff_ffff,
        std::process::id()
    )
}

impl Listener {
    /// A rule on `bus` with `pattern` (every event when `None`) to a new
    /// queue. What was made before a failure is removed again.
    pub async fn on_stage(
        config: &aws_config::SdkConfig,
        bus: &str,
        pattern: Option<Value>,
    ) -> Result<Self, String> {
        let pattern = pattern.unwrap_or_else(match_all);
        let parsed = Pattern::parse(&pattern).map_err(|e| e.to_string())?;
        let events = aws_sdk_eventbridge::Client::new(config);
        let sqs = aws_sdk_sqs::Client::new(config);
        let name = temporary_name();
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .map_err(|e| crate::stage::one_line_error("SQS CreateQueue", &e))?
            .queue_url
            .unwrap_or_default();
        let feed = Feed::Stage {
            events: events.clone(),
            sqs: sqs.clone(),
            bus: bus.to_owned(),
            rule: name.clone(),
            queue_url: queue_url.clone(),
        };
        let listener = Self {
            pattern: parsed,
            feed,
        };
        match listener.wire(&name, &pattern).await {
            Ok(()) => Ok(listener),
            Err(e) => {
                let _ = listener.close().await;
                Err(e)
            }
        }
    }

    /// The local cloud's bus, from its control port (`http://…:3001`); only
    /// events that reach it from now on.
    pub async fn on_local(control_url: &str, pattern: Option<Value>) -> Result<Self, String> {
        let parsed =
            Pattern::parse(&pattern.unwrap_or_else(match_all)).map_err(|e| e.to_string())?;
        let http = reqwest::Client::new();
        let url = format!("{}/events", control_url.trim_end_matches('/'));
        let (_, next) = local_feed(&http, &url, u64::MAX).await?;
        Ok(Self {
            pattern: parsed,
            feed: Feed::Local {
                http,
                url,
                after: next,
            },
        })
    }

    async fn wire(&self, name: &str, pattern: &Value) -> Result<(), String> {
        let Feed::Stage {
            events,
            sqs,
            bus,
            queue_url,
            ..
        } = &self.feed
        else {
            return Ok(());
        };
        let rule_arn = events
            .put_rule()
            .name(name)
            .event_bus_name(bus)
            .event_pattern(pattern.to_string())
            .description("a temporary rule of `cargo xtask listen`")
            .send()
            .await
            .map_err(|e| crate::stage::one_line_error("EventBridge PutRule", &e))?
            .rule_arn
            .unwrap_or_default();
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| crate::stage::one_line_error("SQS GetQueueAttributes", &e))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .unwrap_or_default();
        // Only this rule may send to this queue.
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}
            }]
        });
        sqs.set_queue_attributes()
            .queue_url(queue_url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .map_err(|e| crate::stage::one_line_error("SQS SetQueueAttributes", &e))?;
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("listener")
            .arn(queue_arn)
            .build()
            .map_err(|e| e.to_string())?;
        let put = events
            .put_targets()
            .rule(name)
            .event_bus_name(bus)
            .targets(target)
            .send()
            .await
            .map_err(|e| crate::stage::one_line_error("EventBridge PutTargets", &e))?;
        if put.failed_entry_count() > 0 {
            return Err(format!(
                "EventBridge PutTargets refused the queue: {:?}",
                put.failed_entries()
            ));
        }
        Ok(())
    }

    /// What the listener made on the stage (rule, queue), for a message.
    pub fn describe(&self) -> String {
        match &self.feed {
            Feed::Stage {
                bus,
                rule,
                queue_url,
                ..
            } => format!("rule {rule} on bus {bus}, queue {queue_url}"),
            Feed::Local { url, .. } => format!("the local bus at {url}"),
        }
    }

    /// The matching events that arrived, waiting up to `wait` for some.
    pub async fn next(&mut self, wait: Duration) -> Result<Vec<Value>, String> {
        let arrived = match &mut self.feed {
            Feed::Stage { sqs, queue_url, .. } => {
                let seconds = i32::try_from(wait.as_secs().clamp(0, 20)).unwrap_or(20);
                let received = sqs
                    .receive_message()
                    .queue_url(queue_url.as_str())
                    .max_number_of_messages(10)
                    .wait_time_seconds(seconds)
                    .send()
                    .await
                    .map_err(|e| crate::stage::one_line_error("SQS ReceiveMessage", &e))?;
                let mut events = Vec::new();
                for message in received.messages() {
                    if let Some(body) = message.body() {
                        events.push(
                            serde_json::from_str(body)
                                .unwrap_or_else(|_| Value::String(body.to_owned())),
                        );
                    }
                    if let Some(receipt) = message.receipt_handle() {
                        sqs.delete_message()
                            .queue_url(queue_url.as_str())
                            .receipt_handle(receipt)
                            .send()
                            .await
                            .map_err(|e| crate::stage::one_line_error("SQS DeleteMessage", &e))?;
                    }
                }
                events
            }
            Feed::Local { http, url, after } => {
                let started = Instant::now();
                loop {
                    let (events, next) = local_feed(http, url, *after).await?;
                    *after = next;
                    if !events.is_empty() || started.elapsed() >= wait {
                        break events;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        Ok(arrived
            .into_iter()
            .filter(|event| self.pattern.matches(event).is_ok())
            .collect())
    }

    /// The first arriving event for which `wanted` holds, or `None` when
    /// `deadline` passes first.
    pub async fn wait_for(
        &mut self,
        deadline: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Result<Option<Value>, String> {
        let until = Instant::now() + deadline;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            if let Some(found) = self
                .next(left.min(Duration::from_secs(2)))
                .await?
                .into_iter()
                .find(|e| wanted(e))
            {
                return Ok(Some(found));
            }
        }
    }

    /// Removes the target, the rule and the queue (on a stage); each step
    /// is tried even when one before it failed.
    pub async fn close(self) -> Result<(), String> {
        let Feed::Stage {
            events,
            sqs,
            bus,
            rule,
            queue_url,
        } = self.feed
        else {
            return Ok(());
        };
        let mut failures = Vec::new();
        if let Err(e) = events
            .remove_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .ids("listener")
            .send()
            .await
        {
            failures.push(crate::stage::one_line_error(
                "EventBridge RemoveTargets",
                &e,
            ));
        }
        if let Err(e) = events
            .delete_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .send()
            .await
        {
            failures.push(crate::stage::one_line_error("EventBridge DeleteRule", &e));
        }
        if let Err(e) = sqs.delete_queue().queue_url(&queue_url).send().await {
            failures.push(crate::stage::one_line_error("SQS DeleteQueue", &e));
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }
}

/// `GET /events?after=N` of the local cloud: the events and the next N.
async fn local_feed(
    http: &reqwest::Client,
    url: &str,
    after: u64,
) -> Result<(Vec<Value>, u64), String> {
    // `u64::MAX` asks only for the current position.
    let answer: Value = http
        .get(url)
        .query(&[("after", after.to_string())])
        .send()
        .await
        .map_err(|e| format!("the local cloud's {url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("the local cloud's {url}: not JSON: {e}"))?;
    let events = answer["events"]
        .as_array()
        .map(|list| list.iter().map(|e| e["event"].clone()).collect())
        .unwrap_or_default();
    let next = answer["next"].as_u64().unwrap_or(after);
    Ok((events, next))
}

/// `listen`'s flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenOptions {
    /// The stage, or `None` with `local`.
    pub stage: Option<String>,
    pub local: Option<String>,
    pub pattern: Option<String>,
    pub duration: Duration,
    /// `--count`: stop once this many events have been printed.
    pub count: Option<usize>,
    pub bus: Option<String>,
    pub endpoint_url: Option<String>,
}

pub fn parse_options(args: &[String]) -> Result<Option<ListenOptions>, String> {
    let flags = crate::stage::Flags::parse(
        args,
        &[],
        &[
            "--stage",
            "--local",
            "--pattern",
            "--for",
            "--count",
            "--bus",
            "--endpoint-url",
        ],
    )?;
    if flags.help {
        return Ok(None);
    }
    let duration = match flags.value("--for") {
        None => Duration::from_secs(60),
        Some(text) => crate::logs::parse_since(&text).map_err(|e| e.replace("--since", "--for"))?,
    };
    let count = match flags.value("--count") {
        None => None,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(format!(
                    "--count takes a number of events from 1, not {text:?}"
                ));
            }
        },
    };
    let options = ListenOptions {
        stage: flags.value("--stage"),
        local: flags.value("--local"),
        pattern: flags.value("--pattern"),
        duration,
        count,
        bus: flags.value("--bus"),
        endpoint_url: flags.value("--endpoint-url"),
    };
    match (&options.stage, &options.local) {
        (Some(_), Some(_)) => Err("give --stage or --local, not both".to_owned()),
        (None, None) => Err("--stage (a deployed stage) or --local URL is required".to_owned()),
        _ => Ok(Some(options)),
    }
}

/// `listen`: prints each event to `out` as it arrives until the time is
/// up, `--count` events have been printed or `stop` completes, then
/// removes what it made. Returns how many.
pub async fn run(
    options: &ListenOptions,
    root: &Path,
    out: &mut (dyn std::io::Write + Send),
    stop: impl std::future::Future<Output = ()>,
) -> Result<usize, String> {
    let pattern = match &options.pattern {
        None => None,
        Some(file) => Some(
            serde_json::from_str::<Value>(
                &std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?,
            )
            .map_err(|e| format!("{file} is not JSON: {e}"))?,
        ),
    };
    let mut listener = match (&options.stage, &options.local) {
        (_, Some(url)) => Listener::on_local(url, pattern).await?,
        (Some(stage), None) => {
            let remote =
                crate::stage::Remote::for_stage(root, stage, options.endpoint_url.clone())?;
            let config = remote.sdk_config().await;
            let bus = match &options.bus {
                Some(bus) => bus.clone(),
                None => {
                    let outputs = remote
                        .outputs(&aws_sdk_cloudformation::Client::new(&config))
                        .await?;
                    remote.output(&outputs, "EventBusName", "--bus")?.to_owned()
                }
            };
            Listener::on_stage(&config, &bus, pattern).await?
        }
        (None, None) => return Err("--stage or --local is required".to_owned()),
    };
    eprintln!("listening: {}", listener.describe());
    let until = Instant::now() + options.duration;
    let mut count = 0;
    let mut stop = std::pin::pin!(stop);
    let outcome = 'listening: loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Ok(count);
        }
        let batch = tokio::select! {
            batch = listener.next(left.min(Duration::from_secs(5))) => batch,
            () = &mut stop => break Ok(count),
        };
        match batch {
            Ok(events) => {
                for event in events {
                    if let Err(e) = writeln!(out, "{event}") {
                        break 'listening Err(format!("cannot print: {e}"));
                    }
                    count += 1;
                    if options.count.is_some_and(|wanted| count >= wanted) {
                        break 'listening Ok(count);
                    }
                }
            }
            Err(e) => break Err(e),
        }
    };
    let made = listener.describe();
    let closed = listener.close().await;
    match (&outcome, closed) {
        (_, Err(e)) => Err(format!("could not remove {made}: {e}")),
        _ => {
            eprintln!("removed: {made}");
            outcome
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<ListenOptions>, String> {
        parse_options(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn the_flags_are_read_and_bad_ones_refused() {
        let options = parse(&["--stage", "dev", "--for", "2m", "--count", "3"])
            .expect("valid")
            .expect("options");
        assert_eq!(options.stage.as_deref(), Some("dev"));
        assert_eq!(options.duration, Duration::from_secs(120));
        assert_eq!(options.count, Some(3));
        let local = parse(&["--local", "http://127.0.0.1:3001"])
            .expect("valid")
            .expect("options");
        assert_eq!(
            (local.duration, local.count),
            (Duration::from_secs(60), None)
        );
        assert_eq!(parse(&["--help"]), Ok(None));
        for (bad, says) in [
            (&["--stage", "dev", "--count", "0"][..], "--count takes"),
            (&["--stage", "dev", "--count", "many"][..], "--count takes"),
            (&["--stage", "dev", "--local", "http://x"][..], "not both"),
            (&[][..], "is required"),
        ] {
            let err = parse(bad).expect_err("refused");
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }
}
