//! `stage`: reaching a deployed stage. The stack and region come from
//! `infra/samconfig.toml`, the names of what the stack made from its
//! outputs, and every SDK client can be pointed at another endpoint (moto,
//! the local cloud). Failures are one line that says what is missing and
//! how to fix it.

use std::collections::BTreeMap;
use std::path::Path;

use aws_config::BehaviorVersion;
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata};

/// Where a remote command goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub stage: String,
    pub stack: String,
    pub region: String,
    /// `--endpoint-url`: every client goes there instead of AWS.
    pub endpoint: Option<String>,
}

impl Remote {
    /// The stage's stack and region from samconfig.toml.
    pub fn for_stage(root: &Path, stage: &str, endpoint: Option<String>) -> Result<Self, String> {
        let (stack, region) = crate::deploy::stage_config(root, stage)?;
        Ok(Self {
            stage: stage.to_owned(),
            stack,
            region,
            endpoint,
        })
    }

    /// The SDK configuration: the region of the stage, credentials from
    /// the usual chain (environment, profile, SSO, instance role).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(self.region.clone()));
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        loader.load().await
    }

    /// The stack's outputs, by key.
    pub async fn outputs(
        &self,
        cloudformation: &aws_sdk_cloudformation::Client,
    ) -> Result<BTreeMap<String, String>, String> {
        let described = cloudformation
            .describe_stacks()
            .stack_name(&self.stack)
            .send()
            .await
            .map_err(|e| self.explain("CloudFormation DescribeStacks", &e))?;
        let stack = described.stacks().first().ok_or_else(|| self.no_stack())?;
        Ok(stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect())
    }

    /// One output, or a line naming it and the stack.
    pub fn output<'a>(
        &self,
        outputs: &'a BTreeMap<String, String>,
        key: &str,
        flag: &str,
    ) -> Result<&'a str, String> {
        outputs.get(key).map(String::as_str).ok_or_else(|| {
            format!(
                "stack {} has no output {key}: deploy the current template (cargo xtask deploy --stage {}), or give {flag}",
                self.stack, self.stage
            )
        })
    }

    /// The deployed (physical) id of the stack's resource `logical`.
    pub async fn physical_id(
        &self,
        cloudformation: &aws_sdk_cloudformation::Client,
        logical: &str,
    ) -> Result<String, String> {
        let described = cloudformation
            .describe_stack_resource()
            .stack_name(&self.stack)
            .logical_resource_id(logical)
            .send()
            .await
            .map_err(|e| {
                let text = self.explain("CloudFormation DescribeStackResource", &e);
                if text.contains("does not exist") && !text.starts_with("stack ") {
                    format!(
                        "stack {} has no resource {logical}: deploy the current template (cargo xtask deploy --stage {})",
                        self.stack, self.stage
                    )
                } else {
                    text
                }
            })?;
        described
            .stack_resource_detail()
            .and_then(|d| d.physical_resource_id())
            .map(str::to_owned)
            .ok_or_else(|| format!("stack {} has no {logical} deployed yet", self.stack))
    }

    fn no_stack(&self) -> String {
        format!(
            "stack {} does not exist in {}: deploy it with `cargo xtask deploy --stage {}`",
            self.stack, self.region, self.stage
        )
    }

    /// One line for an SDK failure: missing credentials and a missing
    /// stack say how to fix them; anything else keeps the service's words.
    pub fn explain<E>(&self, call: &str, err: &E) -> String
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let text = DisplayErrorContext(err).to_string();
        if text.contains("no credentials")
            || text.contains("credentials provider")
            || text.contains("CredentialsNotLoaded")
        {
            return format!(
                "{call}: no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (`aws configure` writes a profile)"
            );
        }
        if err.code() == Some("ValidationError")
            && err.message().is_some_and(|m| m.contains("does not exist"))
        {
            return self.no_stack();
        }
        one_line_error(call, err)
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An SDK failure of `call` as one line, with the service's own words.
pub fn one_line_error<E>(call: &str, err: &E) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{call}: {code}: {message}"),
        _ => format!(
            "{call}: {}",
            one_line(&DisplayErrorContext(err).to_string())
        ),
    }
}

/// A remote command's flags: `--help`, switches (no value) and flags with
/// a value, each once; `--endpoint-url` checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    pub help: bool,
    pub switches: std::collections::BTreeSet<String>,
    pub values: BTreeMap<String, String>,
}

impl Flags {
    /// Reads `args` against the switches and valued flags a command takes.
    pub fn parse(args: &[String], switches: &[&str], valued: &[&str]) -> Result<Self, String> {
        let mut flags = Self::default();
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            let name = flag.as_str();
            if name == "--help" || name == "-h" {
                flags.help = true;
            } else if switches.contains(&name) {
                flags.switches.insert(name.to_owned());
            } else if valued.contains(&name) {
                let value = rest
                    .next()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("{flag} needs a value"))?;
                if name == "--endpoint-url" {
                    endpoint(value)?;
                }
                flags.values.insert(name.to_owned(), value.clone());
            } else {
                return Err(format!("unknown option {flag}"));
            }
        }
        Ok(flags)
    }

    /// A flag's value.
    pub fn value(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }

    /// A flag's value, or that it is required.
    pub fn required(&self, name: &str) -> Result<String, String> {
        self.value(name)
            .ok_or_else(|| format!("{name} is required"))
    }
}

/// `--endpoint-url`'s value, checked.
pub fn endpoint(value: &str) -> Result<String, String> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "--endpoint-url takes an http(s):// URL, not {value:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudformation::operation::describe_stacks::{
        DescribeStacksError, DescribeStacksOutput,
    };
    use aws_sdk_cloudformation::types::{Output, Stack, StackStatus};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    fn remote() -> Remote {
        Remote {
            stage: "dev".into(),
            stack: "orders-dev".into(),
            region: "eu-west-1".into(),
            endpoint: None,
        }
    }

    #[tokio::test]
    async fn outputs_are_read_from_the_stages_stack() {
        let described = mock!(aws_sdk_cloudformation::Client::describe_stacks)
            .match_requests(|r| r.stack_name() == Some("orders-dev"))
            .then_output(|| {
                DescribeStacksOutput::builder()
                    .stacks(
                        Stack::builder()
                            .stack_name("orders-dev")
                            .creation_time(aws_sdk_cloudformation::primitives::DateTime::from_secs(
                                0,
                            ))
                            .stack_status(StackStatus::UpdateComplete)
                            .outputs(
                                Output::builder()
                                    .output_key("EventFailuresQueueUrl")
                                    .output_value("https://sqs/q")
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &[&described]);
        let outputs = remote().outputs(&client).await.unwrap();
        assert_eq!(
            remote().output(&outputs, "EventFailuresQueueUrl", "--queue-url"),
            Ok("https://sqs/q")
        );
        let missing = remote().output(&outputs, "Nope", "--flag").unwrap_err();
        assert!(
            missing.contains("orders-dev has no output Nope"),
            "{missing}"
        );
        assert!(missing.contains("--flag"), "{missing}");
    }

    /// CloudFormation answers a missing stack with a ValidationError
    /// "Stack with id … does not exist" (API_DescribeStacks).
    #[tokio::test]
    async fn a_missing_stack_is_one_line_that_says_how_to_deploy_it() {
        let missing = mock!(aws_sdk_cloudformation::Client::describe_stacks).then_error(|| {
            DescribeStacksError::generic(
                aws_sdk_cloudformation::error::ErrorMetadata::builder()
                    .code("ValidationError")
                    .message("Stack with id orders-dev does not exist")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &[&missing]);
        let err = remote().outputs(&client).await.unwrap_err();
        assert_eq!(
            err,
            "stack orders-dev does not exist in eu-west-1: deploy it with `cargo xtask deploy --stage dev`"
        );
    }
}
