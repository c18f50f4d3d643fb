//! `remote invoke`: a function of a deployed stage, invoked once and
//! reported as `invoke` reports a local run: the log tail, the response
//! and the `REPORT` line, with the same exit status.
//!
//! Lambda returns the last 4 KB of the invocation's log, base64-encoded,
//! when asked with `LogType: Tail` (API_Invoke `LogResult`), and names a
//! function error in `FunctionError` (`Unhandled`) with the error as the
//! payload.

use std::path::Path;

use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine as _;
use serde_json::Value;

use crate::stage::Remote;

pub const USAGE: &str = "\
remote invoke FUNCTION --stage STAGE --event FILE|- [--function-name NAME]
              [--endpoint-url URL]

Invokes a deployed function once (RequestResponse, with its log tail) and
prints what `invoke` prints for a local run: the function's log tail and
the REPORT line on standard error, the response on standard output.

  FUNCTION         the function's logical id or binary in the template; its
                   physical name comes from the stage's stack
  --stage          the stage (stack and region from infra/samconfig.toml)
  --event          the event as JSON; `-` reads standard input
  --function-name  the deployed name, instead of the stack's
  --endpoint-url   send every call there instead of AWS

Exit status: 0 response, 1 function error, 2 bad usage or a failed call.
";

/// `remote invoke`'s flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeOptions {
    pub function: String,
    pub stage: String,
    pub event: String,
    pub function_name: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Reads `remote invoke`'s flags (after `invoke`); `Ok(None)` for help.
pub fn parse_invoke(args: &[String]) -> Result<Option<InvokeOptions>, String> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(None);
    }
    let Some((function, rest)) = args.split_first().filter(|(f, _)| !f.starts_with("--")) else {
        return Err("remote invoke needs a FUNCTION".to_owned());
    };
    let flags = crate::stage::Flags::parse(
        rest,
        &[],
        &["--stage", "--event", "--function-name", "--endpoint-url"],
    )?;
    Ok(Some(InvokeOptions {
        function: function.clone(),
        stage: flags.required("--stage")?,
        event: flags.required("--event")?,
        function_name: flags.value("--function-name"),
        endpoint_url: flags.value("--endpoint-url"),
    }))
}

/// What one remote invocation gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The log tail, decoded, without its REPORT line.
    pub log: String,
    /// The `REPORT` line, when the tail holds it.
    pub report: Option<String>,
    /// The response payload as text.
    pub payload: String,
    /// `FunctionError` (`Unhandled`), when the function failed.
    pub function_error: Option<String>,
}

impl Reply {
    /// Standard output, standard error and the exit status, as `invoke`.
    pub fn render(&self) -> (String, String, u8) {
        let mut stderr = self.log.clone();
        if !stderr.is_empty() && !stderr.ends_with('\n') {
            stderr.push('\n');
        }
        if let Some(kind) = &self.function_error {
            stderr.push_str(&format!("function error: {kind}\n"));
        }
        if let Some(report) = &self.report {
            stderr.push_str(report);
            stderr.push('\n');
        }
        let code = u8::from(self.function_error.is_some());
        (format!("{}\n", self.payload), stderr, code)
    }
}

/// Invokes `function` synchronously with its log tail.
pub async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    event: &Value,
) -> Result<Reply, String> {
    let output = lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::RequestResponse)
        .log_type(LogType::Tail)
        .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
        .send()
        .await
        .map_err(|e| crate::stage::one_line_error("Lambda Invoke", &e))?;
    let tail = match output.log_result() {
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| format!("Lambda Invoke: LogResult is not base64: {e}"))?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        None => String::new(),
    };
    let mut log = String::new();
    let mut report = None;
    for line in tail.lines() {
        if line.starts_with("REPORT RequestId:") {
            report = Some(line.to_owned());
        } else {
            log.push_str(line);
            log.push('\n');
        }
    }
    Ok(Reply {
        log,
        report,
        payload: output
            .payload()
            .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
            .unwrap_or_default(),
        function_error: output.function_error().map(str::to_owned),
    })
}

/// The deployed name of the template's function `name` (logical id or
/// binary) in the stage's stack.
pub async fn physical_function(
    remote: &Remote,
    cloudformation: &aws_sdk_cloudformation::Client,
    root: &Path,
    name: &str,
) -> Result<String, String> {
    let template = crate::template::Template::load(&root.join("infra/template.yaml"))
        .map_err(|e| e.to_string())?;
    let logical = template
        .resources_raw()
        .into_iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, _)| id)
        .find(|id| *id == name || template.function_binary(id).as_deref() == Some(name))
        .ok_or_else(|| {
            format!("infra/template.yaml has no function {name:?} (a logical id or binary)")
        })?
        .to_owned();
    remote.physical_id(cloudformation, &logical).await
}

/// `remote invoke` from its options: the text to print and the status.
pub async fn run_invoke(
    options: &InvokeOptions,
    root: &Path,
    event: &Value,
) -> Result<Reply, String> {
    let remote = Remote::for_stage(root, &options.stage, options.endpoint_url.clone())?;
    let config = remote.sdk_config().await;
    let function = match &options.function_name {
        Some(name) => name.clone(),
        None => {
            physical_function(
                &remote,
                &aws_sdk_cloudformation::Client::new(&config),
                root,
                &options.function,
            )
            .await?
        }
    };
    invoke(&aws_sdk_lambda::Client::new(&config), &function, event).await
}

#[cfg(test)]
mod tests {
    use aws_sdk_lambda::operation::invoke::InvokeOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use serde_json::json;

    use super::*;

    fn tail(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    /// A function error: Lambda answers 200 with `X-Amz-Function-Error:
    /// Unhandled` and the error as the payload (API_Invoke).
    #[tokio::test]
    async fn a_function_error_is_shown_as_lambda_shows_it_with_the_decoded_log_tail() {
        let log = "START RequestId: r-1 Version: $LATEST\nthe store is down\nEND RequestId: r-1\nREPORT RequestId: r-1\tDuration: 12.00 ms\tBilled Duration: 12 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\n";
        let encoded = tail(log);
        let invoked = mock!(aws_sdk_lambda::Client::invoke)
            .match_requests(|r| {
                r.function_name() == Some("orders-dev-EventsFunction-X")
                    && r.log_type() == Some(&LogType::Tail)
                    && r.invocation_type() == Some(&InvocationType::RequestResponse)
            })
            .then_output(move || {
                InvokeOutput::builder()
                    .status_code(200)
                    .function_error("Unhandled")
                    .log_result(encoded.clone())
                    .payload(aws_sdk_lambda::primitives::Blob::new(
                        r#"{"errorType":"Unhandled","errorMessage":"handling the event failed"}"#,
                    ))
                    .build()
            });
        let client = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, &[&invoked]);
        let reply = invoke(&client, "orders-dev-EventsFunction-X", &json!({"x": 1}))
            .await
            .unwrap();
        assert_eq!(reply.function_error.as_deref(), Some("Unhandled"));
        assert!(reply.log.contains("the store is down"), "{}", reply.log);
        assert!(!reply.log.contains("REPORT"), "{}", reply.log);
        let (stdout, stderr, code) = reply.render();
        assert_eq!(code, 1);
        assert_eq!(
            stdout,
            "{\"errorType\":\"Unhandled\",\"errorMessage\":\"handling the event failed\"}\n"
        );
        assert!(stderr.contains("function error: Unhandled\n"), "{stderr}");
        assert!(
            stderr.trim_end().ends_with("Max Memory Used: 20 MB"),
            "the REPORT line comes last: {stderr}"
        );
    }

    #[tokio::test]
    async fn a_response_is_printed_and_the_status_is_0() {
        let invoked = mock!(aws_sdk_lambda::Client::invoke).then_output(|| {
            InvokeOutput::builder()
                .status_code(200)
                .payload(aws_sdk_lambda::primitives::Blob::new(
                    r#"{"status":"handled"}"#,
                ))
                .build()
        });
        let client = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, &[&invoked]);
        let (stdout, stderr, code) = invoke(&client, "f", &json!({})).await.unwrap().render();
        assert_eq!(
            (stdout.as_str(), stderr.as_str(), code),
            ("{\"status\":\"handled\"}\n", "", 0)
        );
    }

    #[test]
    fn the_flags_are_read_and_bad_ones_refused() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let options = parse_invoke(&args(&["EventsFunction", "--stage", "dev", "--event", "-"]))
            .unwrap()
            .unwrap();
        assert_eq!(options.function, "EventsFunction");
        assert_eq!(options.event, "-");
        for (bad, why) in [
            (&["--stage", "dev"][..], "needs a FUNCTION"),
            (&["F", "--event", "-"][..], "--stage is required"),
            (&["F", "--stage", "dev"][..], "--event is required"),
            (
                &["F", "--stage", "dev", "--event", "-", "--endpoint-url", "x"][..],
                "http(s)://",
            ),
        ] {
            let err = parse_invoke(&args(bad)).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}
