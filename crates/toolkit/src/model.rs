//! The local cloud's model of the SAM template: every
//! `AWS::Serverless::Function` with what Lambda would give it (binary,
//! memory, timeout, environment with intrinsic functions resolved to local
//! values, async invocation settings), the API routes, the EventBridge
//! rules with their function targets, and the schedules.
//!
//! Invariant: nothing here names a function of this workspace; the
//! template is the one list. What the local cloud cannot emulate (an
//! unresolvable `!If`, an SQS event source, a `cron(...)` schedule) is
//! named in [`Model::warnings`], never dropped silently.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml::Value;

use crate::template::{Template, TemplateError, getatt_resource, parse_rate, pattern_json};

/// The account id the local cloud uses in ARNs and envelopes.
pub const ACCOUNT: &str = "123456789012";

/// Lambda's defaults when neither the function nor `Globals` set them.
const DEFAULT_MEMORY_MB: u64 = 128;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// `MaximumRetryAttempts` (0-2) and `MaximumEventAgeInSeconds`
/// (60-21,600) when not configured: API_FunctionEventInvokeConfig.
const DEFAULT_RETRIES: u32 = 2;
const DEFAULT_EVENT_AGE: Duration = Duration::from_secs(21_600);

/// How a function's asynchronous invocations are retried and where they
/// go when retries run out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncConfig {
    pub maximum_retry_attempts: u32,
    pub maximum_event_age: Duration,
    /// The OnFailure destination's ARN, when the template sets one.
    pub on_failure: Option<String>,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        Self {
            maximum_retry_attempts: DEFAULT_RETRIES,
            maximum_event_age: DEFAULT_EVENT_AGE,
            on_failure: None,
        }
    }
}

/// One function as the local cloud runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// The logical id in the template.
    pub id: String,
    /// The function's name: `FunctionName` when set, else the logical id.
    pub name: String,
    /// The binary (`Metadata.BuildProperties.Binary`, else the logical id).
    pub binary: String,
    pub memory_mb: u64,
    pub timeout: Duration,
    /// The template's variables (Globals, then the function's own), resolved.
    pub environment: BTreeMap<String, String>,
    pub async_config: AsyncConfig,
    /// How `sam build` would build it, as the template says.
    pub build: BuildSpec,
    /// Where its code is, once found (`discover`); [`Code::Unresolved`]
    /// in a model read without looking at the disk.
    pub code: Code,
}

/// What the template says of how a function is built: `CodeUri` (the
/// function's, else `Globals`), `Metadata.BuildMethod`,
/// `Metadata.BuildProperties` (`Binary`, `Features`, `Flags`) and the
/// runtime.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildSpec {
    pub code_uri: Option<String>,
    pub build_method: Option<String>,
    /// `BuildProperties.Binary`, when named.
    pub binary: Option<String>,
    /// Cargo features: `BuildProperties.Features`, and `--features` in
    /// `BuildProperties.Flags`.
    pub features: Vec<String>,
    pub no_default_features: bool,
    pub all_features: bool,
    pub runtime: Option<String>,
}

/// Where a function's executable comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// Not looked for yet: the model alone, without `discover`.
    Unresolved,
    /// A binary target that cargo builds.
    Cargo(CargoBinary),
    /// A `bootstrap` already built, in the `CodeUri` folder of a function
    /// on a `provided` runtime with no build method.
    Bootstrap(std::path::PathBuf),
}

/// A binary of a Cargo workspace, and where cargo puts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CargoBinary {
    /// The workspace's root folder: cargo runs there.
    pub workspace_root: std::path::PathBuf,
    /// The workspace's target directory (`cargo metadata`'s).
    pub target_directory: std::path::PathBuf,
    pub package: String,
}

impl CargoBinary {
    /// The debug build of `binary`.
    pub fn debug_path(&self, binary: &str) -> std::path::PathBuf {
        self.target_directory.join("debug").join(binary)
    }
}

impl FunctionSpec {
    pub fn arn(&self, region: &str) -> String {
        format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{}", self.name)
    }

    /// Whether `name` names this function: its logical id, binary,
    /// function name, or an ARN (full or partial, with or without a
    /// `:qualifier`) ending in its name.
    pub fn is_named(&self, name: &str) -> bool {
        let bare = name
            .strip_prefix("arn:aws:lambda:")
            .and_then(|rest| rest.split(":function:").nth(1))
            .or_else(|| {
                name.split_once(":function:")
                    .map(|(_, rest)| rest)
                    .filter(|_| name.chars().next().is_some_and(|c| c.is_ascii_digit()))
            })
            .unwrap_or(name);
        let bare = bare.split(':').next().unwrap_or(bare);
        bare == self.id || bare == self.name || bare == self.binary
    }
}

/// The kind of API a route belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKind {
    /// `Type: Api`: a REST API, payload format 1.0.
    Rest,
    /// `Type: HttpApi`: an HTTP API, payload format 2.0.
    Http,
}

/// A route: method (upper case, `ANY` for any), path template (`$default`
/// for an HTTP API's catch-all route), function, and the API it belongs
/// to (a logical id; `ServerlessRestApi` / `ServerlessHttpApi` for the
/// APIs SAM makes when an event names none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub kind: ApiKind,
    pub method: String,
    pub path: String,
    pub function: String,
    pub api: String,
    /// The event's `Auth.Authorizer`: an authorizer of its API, or `NONE`;
    /// `None`: the API's `DefaultAuthorizer`.
    pub authorizer: Option<String>,
}

/// The id SAM gives the REST API it makes for `Api` events without
/// `RestApiId`.
pub const IMPLICIT_REST_API: &str = "ServerlessRestApi";
/// The id SAM gives the HTTP API it makes for `HttpApi` events without
/// `ApiId`.
pub const IMPLICIT_HTTP_API: &str = "ServerlessHttpApi";

/// What an API's settings change in the gateway: CORS and binary media
/// types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    pub id: String,
    pub kind: ApiKind,
    /// `Cors` (REST, SAM's property) or `CorsConfiguration` (HTTP API).
    pub cors: Option<Cors>,
    /// `BinaryMediaTypes` (REST; `~1` read as `/`), lower case.
    pub binary_media_types: Vec<String>,
    /// An HTTP API's `StageName` (`None`: SAM's `$default` stage). A REST
    /// API's events carry `--stage`.
    pub stage: Option<String>,
    /// `Auth.Authorizers` the local cloud emulates, by name.
    pub authorizers: BTreeMap<String, Authorizer>,
    /// `Auth.DefaultAuthorizer`, when it names one of `authorizers`.
    pub default_authorizer: Option<String>,
    /// `Auth.AddDefaultAuthorizerToCorsPreflight` (SAM's default: true).
    pub authorize_preflight: bool,
}

/// An authorizer the local gateway applies: a Cognito user pool (REST) or
/// a JWT authorizer (HTTP API), both checked against the local user pool
/// (`auth`), with the token read from `header`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorizer {
    pub name: String,
    pub kind: AuthorizerKind,
    pub header: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerKind {
    /// A REST API's `UserPoolArn` authorizer: claims as strings under
    /// `requestContext.authorizer.claims`.
    CognitoUserPool,
    /// An HTTP API's `JwtConfiguration`: claims under
    /// `requestContext.authorizer.jwt.claims`.
    Jwt,
}

/// An API's CORS settings, with SAM's quoting (`"'*'"`) taken off.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    /// `None`: a REST API's preflight names the path's methods.
    pub allow_methods: Option<Vec<String>>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u64>,
    pub allow_credentials: bool,
}

/// An EventBridge rule with a pattern and its function targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub pattern: serde_json::Value,
    /// Function logical ids.
    pub targets: Vec<String>,
}

/// A schedule: every `period`, the function gets a scheduled event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub name: String,
    pub function: String,
    pub period: Duration,
}

/// What the template says, resolved for one stage.
#[derive(Debug, Clone)]
pub struct Model {
    pub functions: Vec<FunctionSpec>,
    pub routes: Vec<Route>,
    /// The APIs the routes belong to, with their settings.
    pub apis: Vec<Api>,
    pub rules: Vec<Rule>,
    pub schedules: Vec<Schedule>,
    /// Tables (`AWS::DynamoDB::Table`, `AWS::Serverless::SimpleTable`),
    /// as CreateTable requests.
    pub tables: Vec<TableSpec>,
    /// Event buses (`AWS::Events::EventBus`) by their resolved names.
    pub buses: Vec<String>,
    /// Queues, topics, their subscriptions, and buckets.
    pub queues: Vec<QueueSpec>,
    pub topics: Vec<TopicSpec>,
    pub buckets: Vec<BucketSpec>,
    /// `Outputs`, resolved to local values (or why not).
    pub outputs: Vec<(String, Result<String, String>)>,
    /// Constructs the local cloud does not emulate, one line each.
    pub warnings: Vec<String>,
}

impl Model {
    /// The function `name` names (see [`FunctionSpec::is_named`]).
    pub fn function(&self, name: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| f.is_named(name))
    }
}

/// A table as the template defines it: its name and the CreateTable
/// request that makes it (keys, attribute definitions, indexes, stream),
/// and its TTL attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    pub id: String,
    pub name: String,
    pub create: serde_json::Value,
    pub ttl_attribute: Option<String>,
}

/// An SQS queue: its name and the CreateQueue attributes the template
/// sets (`RedrivePolicy` with the dead-letter queue's ARN resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub id: String,
    pub name: String,
    pub attributes: BTreeMap<String, String>,
}

/// An SNS topic and its subscriptions (the topic's `Subscription` list,
/// `AWS::SNS::Subscription` resources and functions' `SNS` events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub id: String,
    pub name: String,
    pub fifo: bool,
    pub subscriptions: Vec<SubscriptionSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// `sqs`, `lambda`, `email`, ...
    pub protocol: String,
    /// A queue's ARN, a function's logical id, an address.
    pub endpoint: String,
    /// `RawMessageDelivery`, `FilterPolicy`, `FilterPolicyScope`.
    pub attributes: BTreeMap<String, String>,
}

/// An S3 bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSpec {
    pub id: String,
    pub name: String,
}

/// Values for the template's parameters and pseudo parameters.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub region: String,
    pub stack: String,
    /// `--parameter-overrides`, over the parameters' defaults.
    pub overrides: BTreeMap<String, String>,
    /// The local name of the template's table, when it declares exactly
    /// one (`--table`): in-process and process functions then share it.
    pub table: Option<String>,
    /// The local AWS endpoint (the control port): queue URLs point there.
    pub endpoint: Option<String>,
    /// Attributes known only once a resource exists (`Table.StreamArn`),
    /// by `LogicalId.Attribute`.
    pub live: BTreeMap<String, String>,
}

/// Why a value could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unresolved(String);

struct Resolver<'a> {
    template: &'a Template,
    context: &'a Context,
    parameters: BTreeMap<String, String>,
}

impl Resolver<'_> {
    fn resource(&self, id: &str) -> Option<&Value> {
        self.template
            .resources_raw()
            .into_iter()
            .find(|(name, _)| *name == id)
            .map(|(_, r)| r)
    }

    fn pseudo(&self, name: &str) -> Option<String> {
        Some(match name {
            "AWS::Region" => self.context.region.clone(),
            "AWS::AccountId" => ACCOUNT.to_owned(),
            "AWS::StackName" => self.context.stack.clone(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            "AWS::NoValue" => String::new(),
            _ => return None,
        })
    }

    /// `!Ref name`: a parameter's value, a pseudo parameter, or a
    /// resource's physical name.
    fn reference(&self, name: &str) -> Result<String, Unresolved> {
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        if let Some(value) = self.pseudo(name) {
            return Ok(value);
        }
        // The APIs SAM makes for events that name none: their id stands
        // for the API's id.
        if (name == IMPLICIT_REST_API || name == IMPLICIT_HTTP_API) && self.has_implicit_api(name) {
            return Ok(name.to_owned());
        }
        let resource = self
            .resource(name)
            .ok_or_else(|| Unresolved(format!("!Ref {name}: no such parameter or resource")))?;
        let physical = self.physical_name(name, resource)?;
        // What `Ref` returns differs by type (its reference page's "Return
        // values"): a queue's URL, a topic's ARN, the others' names; a user
        // pool's id and an app client's id, which locally are the local
        // pool's (`auth`), whose tokens the local authorizers check.
        Ok(match resource["Type"].as_str().unwrap_or_default() {
            "AWS::Cognito::UserPool" => crate::auth::LOCAL_POOL_ID.to_owned(),
            "AWS::Cognito::UserPoolClient" => crate::auth::LOCAL_CLIENT_ID.to_owned(),
            "AWS::SQS::Queue" => self.queue_url(&physical),
            "AWS::SNS::Topic" => {
                format!("arn:aws:sns:{}:{ACCOUNT}:{physical}", self.context.region)
            }
            _ => physical,
        })
    }

    /// The name a resource has once deployed: its own name property when
    /// the template sets one, else the logical id.
    fn physical_name(&self, id: &str, resource: &Value) -> Result<String, Unresolved> {
        let kind = resource["Type"].as_str().unwrap_or_default();
        if let (Some(table), "AWS::DynamoDB::Table") = (&self.context.table, kind) {
            let tables = self
                .template
                .resources_raw()
                .iter()
                .filter(|(_, r)| r["Type"] == "AWS::DynamoDB::Table")
                .count();
            if tables == 1 {
                return Ok(table.clone());
            }
        }
        let property = match kind {
            "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => "TableName",
            "AWS::Events::EventBus" | "AWS::Events::Rule" => "Name",
            "AWS::SQS::Queue" => "QueueName",
            "AWS::SNS::Topic" => "TopicName",
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => "FunctionName",
            "AWS::S3::Bucket" => "BucketName",
            "AWS::SecretsManager::Secret" => "Name",
            _ => return Ok(id.to_owned()),
        };
        match resource["Properties"].get(property) {
            Some(value) => self.resolve(value),
            None => Ok(match kind {
                "AWS::DynamoDB::Table"
                | "AWS::Serverless::SimpleTable"
                | "AWS::SQS::Queue"
                | "AWS::SNS::Topic"
                | "AWS::S3::Bucket" => {
                    let fifo = resource["Properties"]["FifoQueue"].as_bool() == Some(true)
                        || resource["Properties"]["FifoTopic"].as_bool() == Some(true);
                    generated_name(&self.context.stack, id, kind, fifo)
                }
                _ => id.to_owned(),
            }),
        }
    }

    /// Whether SAM makes the implicit API `name`: a function has an event
    /// of its kind that names no API of its own.
    fn has_implicit_api(&self, name: &str) -> bool {
        let (kind, key) = if name == IMPLICIT_REST_API {
            ("Api", "RestApiId")
        } else {
            ("HttpApi", "ApiId")
        };
        self.template.resources_raw().iter().any(|(_, resource)| {
            resource["Properties"]["Events"]
                .as_mapping()
                .into_iter()
                .flat_map(|m| m.values())
                .any(|event| event["Type"] == kind && event["Properties"].get(key).is_none())
        })
    }

    /// The branch an `Fn::If` takes (through nested ones), or `value`
    /// itself when it is no `Fn::If`; `None` for `!Ref AWS::NoValue`.
    fn select<'v>(&self, value: &'v Value) -> Result<Option<&'v Value>, Unresolved> {
        let Some((function, argument)) = intrinsic(value) else {
            return Ok(Some(value));
        };
        match (function.as_str(), argument) {
            ("!If", Value::Sequence(parts)) if parts.len() == 3 => {
                let name = parts[0]
                    .as_str()
                    .ok_or_else(|| Unresolved(describe(value)))?;
                let chosen = if self.condition(name, 0)? {
                    &parts[1]
                } else {
                    &parts[2]
                };
                self.select(chosen)
            }
            ("!Ref", Value::String(name)) if name == "AWS::NoValue" => Ok(None),
            _ => Ok(Some(value)),
        }
    }

    /// The template's condition `name` (`Conditions`), evaluated:
    /// `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or` and `Condition`.
    fn condition(&self, name: &str, depth: usize) -> Result<bool, Unresolved> {
        let definition = &self.template.document()["Conditions"][name];
        if definition.is_null() || depth > 16 {
            return Err(Unresolved(format!("condition {name}: not defined")));
        }
        self.truth(definition, depth + 1)
    }

    fn truth(&self, value: &Value, depth: usize) -> Result<bool, Unresolved> {
        let (function, argument) = intrinsic(value).ok_or_else(|| Unresolved(describe(value)))?;
        let all = |parts: &Vec<Value>| -> Result<Vec<bool>, Unresolved> {
            parts.iter().map(|p| self.truth(p, depth + 1)).collect()
        };
        match (function.as_str(), argument) {
            ("!Equals", Value::Sequence(parts)) if parts.len() == 2 => {
                Ok(self.resolve(&parts[0])? == self.resolve(&parts[1])?)
            }
            ("!Not", Value::Sequence(parts)) if parts.len() == 1 => {
                Ok(!self.truth(&parts[0], depth + 1)?)
            }
            ("!And", Value::Sequence(parts)) => Ok(all(parts)?.into_iter().all(|b| b)),
            ("!Or", Value::Sequence(parts)) => Ok(all(parts)?.into_iter().any(|b| b)),
            ("!Condition", Value::String(name)) => self.condition(name, depth),
            _ => Err(Unresolved(describe(value))),
        }
    }

    /// A queue's URL on the local endpoint (or the regional one when the
    /// local cloud has no control port).
    fn queue_url(&self, name: &str) -> String {
        match &self.context.endpoint {
            Some(endpoint) => format!("{}/{ACCOUNT}/{name}", endpoint.trim_end_matches('/')),
            None => format!(
                "https://sqs.{}.amazonaws.com/{ACCOUNT}/{name}",
                self.context.region
            ),
        }
    }

    /// `!GetAtt id.attribute`.
    fn attribute(&self, id: &str, attribute: &str) -> Result<String, Unresolved> {
        let unresolved = || Unresolved(format!("!GetAtt {id}.{attribute}"));
        if let Some(value) = self.context.live.get(&format!("{id}.{attribute}")) {
            return Ok(value.clone());
        }
        let resource = self.resource(id).ok_or_else(unresolved)?;
        let name = self.physical_name(id, resource)?;
        let (region, account) = (&self.context.region, ACCOUNT);
        let kind = resource["Type"].as_str().unwrap_or_default();
        Ok(match (kind, attribute) {
            ("AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable", "Arn") => {
                format!("arn:aws:dynamodb:{region}:{account}:table/{name}")
            }
            ("AWS::Events::EventBus", "Name") => name,
            ("AWS::Events::EventBus", "Arn") => {
                format!("arn:aws:events:{region}:{account}:event-bus/{name}")
            }
            ("AWS::Events::Rule", "Arn") => {
                format!("arn:aws:events:{region}:{account}:rule/{name}")
            }
            ("AWS::SQS::Queue", "Arn") => format!("arn:aws:sqs:{region}:{account}:{name}"),
            ("AWS::SQS::Queue", "QueueName") => name,
            ("AWS::SQS::Queue", "QueueUrl") => self.queue_url(&name),
            ("AWS::SNS::Topic", "TopicArn") => format!("arn:aws:sns:{region}:{account}:{name}"),
            ("AWS::SNS::Topic", "TopicName") => name,
            ("AWS::DynamoDB::Table", "StreamArn") => {
                format!("arn:aws:dynamodb:{region}:{account}:table/{name}/stream/local")
            }
            ("AWS::S3::Bucket", "DomainName") => format!("{name}.s3.amazonaws.com"),
            ("AWS::S3::Bucket", "RegionalDomainName") => {
                format!("{name}.s3.{region}.amazonaws.com")
            }
            ("AWS::Serverless::Function" | "AWS::Lambda::Function", "Arn") => {
                format!("arn:aws:lambda:{region}:{account}:function:{name}")
            }
            ("AWS::S3::Bucket", "Arn") => format!("arn:aws:s3:::{name}"),
            _ => return Err(unresolved()),
        })
    }

    /// `!Sub` of a string, with extra variables from its list form.
    fn substitute(
        &self,
        text: &str,
        variables: &BTreeMap<String, String>,
    ) -> Result<String, Unresolved> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            // `${!Literal}` writes `${Literal}`.
            if let Some(literal) = after.strip_prefix('!') {
                out.push_str("${");
                rest = literal;
                continue;
            }
            let end = after
                .find('}')
                .ok_or_else(|| Unresolved(format!("!Sub {text:?}: unclosed ${{")))?;
            let name = &after[..end];
            let value = match variables.get(name) {
                Some(value) => value.clone(),
                None => match name.split_once('.') {
                    Some((id, attribute)) if !name.starts_with("AWS::") => {
                        self.attribute(id, attribute)?
                    }
                    _ => self.reference(name)?,
                },
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A value with its intrinsic functions (short or long form) resolved.
    fn resolve(&self, value: &Value) -> Result<String, Unresolved> {
        let (function, argument) = match value {
            Value::String(s) => return Ok(s.clone()),
            Value::Number(n) => return Ok(n.to_string()),
            Value::Bool(b) => return Ok(b.to_string()),
            other => intrinsic(other).ok_or_else(|| Unresolved(describe(other)))?,
        };
        match (function.as_str(), argument) {
            ("!Ref", Value::String(name)) => self.reference(name),
            ("!GetAtt", _) => {
                let (id, attribute) = match argument {
                    Value::String(s) => s.split_once('.').unwrap_or((s, "")),
                    Value::Sequence(parts) => (
                        parts.first().and_then(Value::as_str).unwrap_or_default(),
                        parts.get(1).and_then(Value::as_str).unwrap_or_default(),
                    ),
                    _ => return Err(Unresolved(describe(value))),
                };
                self.attribute(id, attribute)
            }
            ("!Sub", Value::String(text)) => self.substitute(text, &BTreeMap::new()),
            ("!Sub", Value::Sequence(parts)) => {
                let text = parts
                    .first()
                    .and_then(Value::as_str)
                    .ok_or_else(|| Unresolved(describe(value)))?;
                let mut variables = BTreeMap::new();
                if let Some(map) = parts.get(1).and_then(Value::as_mapping) {
                    for (k, v) in map {
                        if let Some(k) = k.as_str() {
                            variables.insert(k.to_owned(), self.resolve(v)?);
                        }
                    }
                }
                self.substitute(text, &variables)
            }
            ("!Join", Value::Sequence(parts)) => {
                let delimiter = parts.first().and_then(Value::as_str).unwrap_or_default();
                let items = parts
                    .get(1)
                    .and_then(Value::as_sequence)
                    .ok_or_else(|| Unresolved(describe(value)))?;
                let items: Result<Vec<String>, Unresolved> =
                    items.iter().map(|item| self.resolve(item)).collect();
                Ok(items?.join(delimiter))
            }
            ("!If", Value::Sequence(_)) => match self.select(value)? {
                Some(chosen) => self.resolve(chosen),
                None => Ok(String::new()),
            },
            ("!FindInMap", Value::Sequence(parts)) if parts.len() == 3 => {
                let keys: Result<Vec<String>, Unresolved> =
                    parts.iter().map(|part| self.resolve(part)).collect();
                let keys = keys?;
                let found = &self.template.document()["Mappings"][&keys[0]][&keys[1]][&keys[2]];
                if found.is_null() {
                    return Err(Unresolved(format!(
                        "!FindInMap [{}, {}, {}]: no such entry",
                        keys[0], keys[1], keys[2]
                    )));
                }
                self.resolve(found)
            }
            _ => Err(Unresolved(describe(value))),
        }
    }
}

/// An intrinsic function call, short (`!Sub x`) or long (`{"Fn::Sub": x}`,
/// `{"Ref": x}`, `{"Condition": x}`) form, as (`!Name`, argument).
fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => Some((tagged.tag.to_string(), &tagged.value)),
        Value::Mapping(map) if map.len() == 1 => match map.iter().next() {
            Some((Value::String(key), argument)) => Some((
                format!("!{}", key.strip_prefix("Fn::").unwrap_or(key)),
                argument,
            )),
            _ => None,
        },
        _ => None,
    }
}

/// A short text for a value the resolver cannot take, for a warning.
fn describe(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) => format!("{} {}", tagged.tag, one_line(&tagged.value)),
        other => one_line(other),
    }
}

fn one_line(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "?".to_owned())
}

/// `Properties.Events` event types the local cloud serves.
const SERVED_EVENTS: [&str; 5] = [
    "Api",
    "HttpApi",
    "Schedule",
    "EventBridgeRule",
    "CloudWatchEvent",
];

/// Reads `template` for the stage and region in `context`.
pub fn load(template: &Template, context: &Context) -> Result<Model, TemplateError> {
    let document = template.document();
    let mut warnings = Vec::new();
    let mut parameters = BTreeMap::new();
    if let Some(declared) = document["Parameters"].as_mapping() {
        for (name, declaration) in declared {
            let Some(name) = name.as_str() else { continue };
            let value =
                context
                    .overrides
                    .get(name)
                    .cloned()
                    .or_else(|| match &declaration["Default"] {
                        Value::Null => None,
                        other => Some(scalar(other)),
                    });
            match value {
                Some(value) => {
                    if let Some(allowed) = declaration["AllowedValues"].as_sequence()
                        && !allowed.iter().any(|a| scalar(a) == value)
                    {
                        return Err(TemplateError::BadParameter {
                            name: name.to_owned(),
                            reason: format!(
                                "{value:?} is not one of its AllowedValues ({})",
                                allowed.iter().map(scalar).collect::<Vec<_>>().join(", ")
                            ),
                        });
                    }
                    parameters.insert(name.to_owned(), value);
                }
                None => warnings.push(format!(
                    "parameter {name} has no Default and no --parameter-overrides value; references to it stay unresolved"
                )),
            }
        }
    }
    for name in context.overrides.keys() {
        if !parameters.contains_key(name) {
            return Err(TemplateError::BadParameter {
                name: name.clone(),
                reason: "the template declares no such parameter".to_owned(),
            });
        }
    }
    let resolver = Resolver {
        template,
        context,
        parameters,
    };
    let globals = &document["Globals"]["Function"];
    let mut functions = Vec::new();
    let mut routes = Vec::new();
    let mut schedules = Vec::new();
    let mut rules = Vec::new();
    let mut tables = Vec::new();
    let mut buses = Vec::new();
    let mut queues = Vec::new();
    let mut topics = Vec::new();
    let mut buckets = Vec::new();
    for (id, resource) in template.resources_raw() {
        match resource["Type"].as_str().unwrap_or_default() {
            "AWS::Serverless::Function" => {
                let properties = &resource["Properties"];
                let spec = function_spec(&resolver, id, resource, globals, &mut warnings);
                if let Some(why) = not_run_locally(&spec, properties, globals) {
                    warnings.push(format!("{id}: {why}; it is not served, nor are its events"));
                    continue;
                }
                functions.push(spec);
                for (event_name, event) in properties["Events"]
                    .as_mapping()
                    .into_iter()
                    .flat_map(|m| m.iter())
                {
                    let event_name = event_name.as_str().unwrap_or_default();
                    read_event(
                        id,
                        event_name,
                        event,
                        &mut routes,
                        &mut rules,
                        &mut schedules,
                        &mut warnings,
                    )?;
                }
            }
            "AWS::Lambda::Function" => warnings.push(format!(
                "{id}: AWS::Lambda::Function is not run locally (only AWS::Serverless::Function with a binary)"
            )),
            "AWS::Events::Rule" => {
                read_rule(template, id, resource, &mut rules, &mut schedules, &mut warnings)?;
            }
            "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => {
                match table_spec(&resolver, id, resource) {
                    Ok(table) => tables.push(table),
                    Err(Unresolved(why)) => warnings.push(format!("{id}: table not created: {why}")),
                }
            }
            "AWS::SQS::Queue" => match queue_spec(&resolver, id, resource) {
                Ok(queue) => queues.push(queue),
                Err(Unresolved(why)) => warnings.push(format!("{id}: queue not created: {why}")),
            },
            "AWS::SNS::Topic" => match topic_spec(&resolver, id, resource, &mut warnings) {
                Ok(topic) => topics.push(topic),
                Err(Unresolved(why)) => warnings.push(format!("{id}: topic not created: {why}")),
            },
            "AWS::S3::Bucket" => match resolver.physical_name(id, resource) {
                Ok(name) => {
                    let properties = &resource["Properties"];
                    if !properties["NotificationConfiguration"].is_null() {
                        warnings.push(format!(
                            "{id}: NotificationConfiguration is not emulated; the bucket's events are not sent"
                        ));
                    }
                    buckets.push(BucketSpec {
                        id: id.to_owned(),
                        name,
                    });
                }
                Err(Unresolved(why)) => warnings.push(format!("{id}: bucket not created: {why}")),
            },
            "AWS::Events::EventBus" => match resolver.physical_name(id, resource) {
                Ok(name) => buses.push(name),
                Err(Unresolved(why)) => warnings.push(format!("{id}: bus name: {why}")),
            },
            _ => {}
        }
    }
    apply_invoke_configs(&resolver, template, &mut functions, &mut warnings);
    // A method's own route before the path's `ANY`; an HTTP API's
    // `$default` after every other route.
    routes.sort_by(|a, b| {
        let key = |r: &Route| (r.path == "$default", r.path.clone(), r.method == "ANY");
        (key(a), &a.method).cmp(&(key(b), &b.method))
    });
    let apis = read_apis(&resolver, &routes, &mut warnings);
    rules.sort_by(|a, b| a.name.cmp(&b.name));
    read_subscriptions(&resolver, template, &mut topics, &mut warnings);
    let outputs = document["Outputs"]
        .as_mapping()
        .into_iter()
        .flat_map(|m| m.iter())
        .filter_map(|(name, output)| {
            let name = name.as_str()?.to_owned();
            let value = resolver
                .resolve(&output["Value"])
                .map_err(|Unresolved(why)| why);
            Some((name, value))
        })
        .collect();
    Ok(Model {
        functions,
        routes,
        apis,
        rules,
        schedules,
        tables,
        buses,
        queues,
        topics,
        buckets,
        outputs,
        warnings,
    })
}

/// A table's CreateTable request from its definition:
/// `AWS::DynamoDB::Table` (key schema, attribute definitions, global and
/// local secondary indexes, stream, TTL) or SAM's `SimpleTable`
/// (`PrimaryKey`, default `id` of type String).
fn table_spec(
    resolver: &Resolver<'_>,
    id: &str,
    resource: &Value,
) -> Result<TableSpec, Unresolved> {
    let name = resolver.physical_name(id, resource)?;
    let properties = &resource["Properties"];
    if resource["Type"] == "AWS::Serverless::SimpleTable" {
        let key = &properties["PrimaryKey"];
        let key_name = match key.get("Name") {
            Some(v) => resolver.resolve(v)?,
            None => "id".to_owned(),
        };
        let key_type = match key.get("Type").map(|v| resolver.resolve(v)).transpose()? {
            Some(t) if t == "Number" => "N",
            Some(t) if t == "Binary" => "B",
            _ => "S",
        };
        return Ok(TableSpec {
            id: id.to_owned(),
            create: serde_json::json!({
                "TableName": name,
                "AttributeDefinitions": [{"AttributeName": key_name, "AttributeType": key_type}],
                "KeySchema": [{"AttributeName": key_name, "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
            }),
            name,
            ttl_attribute: None,
        });
    }
    let json = |key: &str| -> Result<serde_json::Value, Unresolved> {
        resolved_json(resolver, &properties[key])
    };
    let mut create = serde_json::json!({
        "TableName": name,
        "AttributeDefinitions": json("AttributeDefinitions")?,
        "KeySchema": json("KeySchema")?,
        "BillingMode": "PAY_PER_REQUEST",
    });
    for key in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
        let mut indexes = json(key)?;
        if let Some(list) = indexes.as_array_mut() {
            for index in list.iter_mut().filter_map(serde_json::Value::as_object_mut) {
                // On-demand capacity: a throughput setting would be refused.
                index.remove("ProvisionedThroughput");
                index.remove("ContributorInsightsSpecification");
            }
            create[key] = indexes;
        }
    }
    if let Some(view) = properties["StreamSpecification"].get("StreamViewType") {
        create["StreamSpecification"] =
            serde_json::json!({"StreamEnabled": true, "StreamViewType": resolver.resolve(view)?});
    }
    let ttl = &properties["TimeToLiveSpecification"];
    let ttl_attribute = match (ttl.get("AttributeName"), ttl["Enabled"].as_bool()) {
        (Some(attribute), Some(true) | None) => Some(resolver.resolve(attribute)?),
        _ => None,
    };
    Ok(TableSpec {
        id: id.to_owned(),
        name,
        create,
        ttl_attribute,
    })
}

/// A YAML value as JSON, its intrinsic functions resolved.
fn resolved_json(resolver: &Resolver<'_>, value: &Value) -> Result<serde_json::Value, Unresolved> {
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Sequence(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|item| resolved_json(resolver, item))
                .collect::<Result<_, _>>()?,
        ),
        Value::Mapping(map) if !is_intrinsic(value) => serde_json::Value::Object(
            map.iter()
                .filter_map(|(k, v)| k.as_str().map(|k| (k, v)))
                .map(|(k, v)| Ok((k.to_owned(), resolved_json(resolver, v)?)))
                .collect::<Result<_, Unresolved>>()?,
        ),
        Value::Number(n) => serde_json::to_value(n).unwrap_or(serde_json::Value::Null),
        Value::Bool(b) => serde_json::Value::Bool(*b),
        other => serde_json::Value::String(resolver.resolve(other)?),
    })
}

fn is_intrinsic(value: &Value) -> bool {
    value.as_mapping().is_some_and(|m| {
        m.len() == 1
            && m.keys()
                .next()
                .and_then(Value::as_str)
                .is_some_and(|k| k == "Ref" || k.starts_with("Fn::"))
    })
}

/// A queue's CreateQueue attributes from its properties (AWS::SQS::Queue
/// reference: the property names are the attribute names).
fn queue_spec(
    resolver: &Resolver<'_>,
    id: &str,
    resource: &Value,
) -> Result<QueueSpec, Unresolved> {
    let name = resolver.physical_name(id, resource)?;
    let properties = &resource["Properties"];
    let mut attributes = BTreeMap::new();
    for key in [
        "DelaySeconds",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "ReceiveMessageWaitTimeSeconds",
        "VisibilityTimeout",
        "FifoQueue",
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "FifoThroughputLimit",
    ] {
        if let Some(value) = properties.get(key) {
            attributes.insert(key.to_owned(), resolver.resolve(value)?);
        }
    }
    for key in ["RedrivePolicy", "RedriveAllowPolicy"] {
        if let Some(value) = properties.get(key).filter(|v| !v.is_null()) {
            let policy = match value {
                Value::String(text) => text.clone(),
                other => resolved_json(resolver, other)?.to_string(),
            };
            attributes.insert(key.to_owned(), policy);
        }
    }
    Ok(QueueSpec {
        id: id.to_owned(),
        name,
        attributes,
    })
}

/// A topic with its own `Subscription` list.
fn topic_spec(
    resolver: &Resolver<'_>,
    id: &str,
    resource: &Value,
    warnings: &mut Vec<String>,
) -> Result<TopicSpec, Unresolved> {
    let name = resolver.physical_name(id, resource)?;
    let properties = &resource["Properties"];
    let mut subscriptions = Vec::new();
    let listed = resolver.select(&properties["Subscription"])?;
    for subscription in listed.and_then(Value::as_sequence).into_iter().flatten() {
        match subscription_spec(resolver, subscription) {
            Ok(spec) => subscriptions.push(spec),
            Err(Unresolved(why)) => {
                warnings.push(format!("{id}: a subscription is not made: {why}"))
            }
        }
    }
    Ok(TopicSpec {
        id: id.to_owned(),
        name,
        fifo: properties["FifoTopic"].as_bool() == Some(true),
        subscriptions,
    })
}

fn subscription_spec(
    resolver: &Resolver<'_>,
    value: &Value,
) -> Result<SubscriptionSpec, Unresolved> {
    let protocol = resolver.resolve(&value["Protocol"])?.to_ascii_lowercase();
    let endpoint = resolver.resolve(&value["Endpoint"])?;
    let mut attributes = BTreeMap::new();
    if let Some(raw) = value.get("RawMessageDelivery") {
        attributes.insert("RawMessageDelivery".to_owned(), resolver.resolve(raw)?);
    }
    if let Some(policy) = value.get("FilterPolicy").filter(|v| !v.is_null()) {
        let policy = match policy {
            Value::String(text) => text.clone(),
            other => resolved_json(resolver, other)?.to_string(),
        };
        attributes.insert("FilterPolicy".to_owned(), policy);
    }
    if let Some(scope) = value.get("FilterPolicyScope") {
        attributes.insert("FilterPolicyScope".to_owned(), resolver.resolve(scope)?);
    }
    Ok(SubscriptionSpec {
        protocol,
        endpoint,
        attributes,
    })
}

/// `AWS::SNS::Subscription` resources, onto the topics they name.
fn read_subscriptions(
    resolver: &Resolver<'_>,
    template: &Template,
    topics: &mut [TopicSpec],
    warnings: &mut Vec<String>,
) {
    for (id, resource) in template.resources_raw() {
        if resource["Type"] != "AWS::SNS::Subscription" {
            continue;
        }
        let properties = &resource["Properties"];
        let topic_arn = match resolver.resolve(&properties["TopicArn"]) {
            Ok(arn) => arn,
            Err(Unresolved(why)) => {
                warnings.push(format!("{id}: subscription not made: {why}"));
                continue;
            }
        };
        let Some(topic) = topics
            .iter_mut()
            .find(|t| topic_arn.ends_with(&format!(":{}", t.name)))
        else {
            warnings.push(format!(
                "{id}: subscription to {topic_arn}, a topic this template does not define, is not made"
            ));
            continue;
        };
        match subscription_spec(resolver, properties) {
            Ok(spec) => topic.subscriptions.push(spec),
            Err(Unresolved(why)) => warnings.push(format!("{id}: subscription not made: {why}")),
        }
    }
}

/// Why a function cannot run here, if it cannot: an image, or a runtime
/// other than `provided.*` with no Rust build method (the local cloud runs
/// Rust binaries under the Runtime API).
fn not_run_locally(spec: &FunctionSpec, properties: &Value, globals: &Value) -> Option<String> {
    let package_type = properties
        .get("PackageType")
        .or_else(|| globals.get("PackageType"))
        .and_then(Value::as_str);
    if package_type == Some("Image") {
        return Some(
            "PackageType Image is not run locally (only Zip functions built from Rust are)"
                .to_owned(),
        );
    }
    let rust = spec.build.build_method.as_deref() == Some("rust-cargolambda");
    match spec.build.runtime.as_deref() {
        Some(runtime) if !rust && !runtime.starts_with("provided") => Some(format!(
            "runtime {runtime} is not run locally (only Rust functions on provided.* runtimes are)"
        )),
        _ => None,
    }
}

/// The name CloudFormation gives a resource whose template names none:
/// `{stack}-{LogicalId}-{SUFFIX}`, the suffix stable here (from the stack
/// and logical id) where CloudFormation's is random; lower case for
/// buckets, `.fifo` at the end of a FIFO queue's or topic's.
pub fn generated_name(stack: &str, id: &str, kind: &str, fifo: bool) -> String {
    // FNV-1a over the stack and id, written in CloudFormation's alphabet.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in stack.bytes().chain([0]).chain(id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let suffix: String = (0..12)
        .map(|i| {
            let index = usize::try_from((hash >> (i * 5)) % 36).unwrap_or_default();
            char::from(ALPHABET[index])
        })
        .collect();
    let name = format!("{stack}-{id}-{suffix}");
    match kind {
        "AWS::S3::Bucket" => {
            let mut lower = name.to_ascii_lowercase();
            lower.truncate(63);
            lower
        }
        _ if fifo => format!("{name}.fifo"),
        _ => name,
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => one_line(other),
    }
}

fn function_spec(
    resolver: &Resolver<'_>,
    id: &str,
    resource: &Value,
    globals: &Value,
    warnings: &mut Vec<String>,
) -> FunctionSpec {
    let properties = &resource["Properties"];
    let setting = |key: &str| {
        properties
            .get(key)
            .or_else(|| globals.get(key))
            .filter(|v| !v.is_null())
    };
    let number = |key: &str, warnings: &mut Vec<String>| -> Option<u64> {
        let value = setting(key)?;
        match resolver.resolve(value).map(|v| v.parse::<u64>()) {
            Ok(Ok(n)) => Some(n),
            _ => {
                warnings.push(format!(
                    "{id}: {key} {} is not a number; Lambda's default is used",
                    describe(value)
                ));
                None
            }
        }
    };
    let memory_mb = number("MemorySize", warnings).unwrap_or(DEFAULT_MEMORY_MB);
    let timeout = number("Timeout", warnings).map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let mut environment = BTreeMap::new();
    for source in [globals, properties] {
        for (key, value) in source["Environment"]["Variables"]
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.iter())
        {
            let Some(key) = key.as_str() else { continue };
            match resolver.resolve(value) {
                Ok(value) => {
                    environment.insert(key.to_owned(), value);
                }
                Err(Unresolved(why)) => {
                    environment.remove(key);
                    warnings.push(format!(
                        "{id}: environment variable {key} is not set locally: cannot resolve {why}"
                    ));
                }
            }
        }
    }
    let name = match properties.get("FunctionName") {
        Some(value) => resolver.resolve(value).unwrap_or_else(|Unresolved(why)| {
            warnings.push(format!(
                "{id}: FunctionName: cannot resolve {why}; the logical id is used"
            ));
            id.to_owned()
        }),
        None => id.to_owned(),
    };
    let mut async_config = AsyncConfig::default();
    if let Some(config) = properties.get("EventInvokeConfig") {
        read_invoke_config(resolver, id, config, &mut async_config, warnings);
    }
    let build = build_spec(resolver, id, resource, globals, warnings);
    FunctionSpec {
        id: id.to_owned(),
        name,
        binary: build.binary.clone().unwrap_or_else(|| id.to_owned()),
        memory_mb,
        timeout,
        environment,
        async_config,
        build,
        code: Code::Unresolved,
    }
}

/// Cargo flags in `BuildProperties.Flags` that change what is built; the
/// others (`--arm64`, `--release`, cargo lambda's own) change nothing in a
/// local debug build.
fn build_spec(
    resolver: &Resolver<'_>,
    id: &str,
    resource: &Value,
    globals: &Value,
    warnings: &mut Vec<String>,
) -> BuildSpec {
    let properties = &resource["Properties"];
    let metadata = &resource["Metadata"];
    let text = |value: Option<&Value>| value.and_then(|v| resolver.resolve(v).ok());
    let setting = |key: &str| {
        properties
            .get(key)
            .or_else(|| globals.get(key))
            .filter(|v| !v.is_null())
    };
    let mut spec = BuildSpec {
        code_uri: text(setting("CodeUri")),
        build_method: metadata["BuildMethod"].as_str().map(str::to_owned),
        binary: text(metadata["BuildProperties"].get("Binary")),
        runtime: text(setting("Runtime")),
        ..BuildSpec::default()
    };
    let properties = &metadata["BuildProperties"];
    match &properties["Features"] {
        Value::Null => {}
        Value::Sequence(items) => spec
            .features
            .extend(items.iter().filter_map(|v| resolver.resolve(v).ok())),
        other => {
            if let Ok(list) = resolver.resolve(other) {
                spec.features.extend(
                    list.split([',', ' '])
                        .filter(|f| !f.is_empty())
                        .map(str::to_owned),
                );
            }
        }
    }
    let flags: Vec<String> = properties["Flags"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| resolver.resolve(v).ok())
        .flat_map(|f| f.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let mut flags = flags.into_iter();
    while let Some(flag) = flags.next() {
        match flag.as_str() {
            "--features" | "-F" => spec.features.extend(
                flags
                    .next()
                    .into_iter()
                    .flat_map(|f| f.split(',').map(str::to_owned).collect::<Vec<_>>()),
            ),
            "--no-default-features" => spec.no_default_features = true,
            "--all-features" => spec.all_features = true,
            "--release" | "--arm64" | "--x86-64" => {}
            other => match other.strip_prefix("--features=") {
                Some(list) => spec.features.extend(list.split(',').map(str::to_owned)),
                None => warnings.push(format!(
                    "{id}: build flag {other} is not used by the local build"
                )),
            },
        }
    }
    spec
}

/// `MaximumRetryAttempts`, `MaximumEventAgeInSeconds` and
/// `DestinationConfig.OnFailure.Destination`, from a function's
/// `EventInvokeConfig` or an `AWS::Lambda::EventInvokeConfig`.
fn read_invoke_config(
    resolver: &Resolver<'_>,
    id: &str,
    config: &Value,
    into: &mut AsyncConfig,
    warnings: &mut Vec<String>,
) {
    if let Some(n) = config["MaximumRetryAttempts"].as_u64() {
        match u32::try_from(n) {
            Ok(n @ 0..=2) => into.maximum_retry_attempts = n,
            _ => warnings.push(format!(
                "{id}: MaximumRetryAttempts {n} is outside Lambda's 0-2; 2 is used"
            )),
        }
    }
    if let Some(n) = config["MaximumEventAgeInSeconds"].as_u64() {
        if (60..=21_600).contains(&n) {
            into.maximum_event_age = Duration::from_secs(n);
        } else {
            warnings.push(format!(
                "{id}: MaximumEventAgeInSeconds {n} is outside Lambda's 60-21600; 21600 is used"
            ));
        }
    }
    let destinations = &config["DestinationConfig"];
    if let Some(on_failure) = destinations["OnFailure"].get("Destination") {
        match resolver.resolve(on_failure) {
            Ok(arn) => into.on_failure = Some(arn),
            Err(Unresolved(why)) => {
                warnings.push(format!("{id}: OnFailure destination: cannot resolve {why}"))
            }
        }
    }
    if !destinations["OnSuccess"].is_null() {
        warnings.push(format!(
            "{id}: OnSuccess destinations are not emulated; successes are only logged"
        ));
    }
}

/// The logical id `!Ref X` (or `{Ref: X}`) names, or a plain name.
fn reference(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str().map(str::to_owned),
        Value::Mapping(map) => map.get("Ref").and_then(Value::as_str).map(str::to_owned),
        Value::String(name) => Some(name.clone()),
        _ => None,
    }
}

/// The APIs the routes name: an `AWS::Serverless::Api` / `HttpApi`
/// resource's properties over `Globals.Api` / `Globals.HttpApi` (the
/// implicit APIs take only the globals).
fn read_apis(resolver: &Resolver<'_>, routes: &[Route], warnings: &mut Vec<String>) -> Vec<Api> {
    let document = resolver.template.document();
    let mut apis: Vec<Api> = Vec::new();
    for route in routes {
        if apis.iter().any(|a| a.id == route.api) {
            continue;
        }
        let (globals, resource_type) = match route.kind {
            ApiKind::Rest => (&document["Globals"]["Api"], "AWS::Serverless::Api"),
            ApiKind::Http => (&document["Globals"]["HttpApi"], "AWS::Serverless::HttpApi"),
        };
        let resource = &document["Resources"][route.api.as_str()];
        let properties = &resource["Properties"];
        let implicit = route.api == IMPLICIT_REST_API || route.api == IMPLICIT_HTTP_API;
        if !implicit && resource["Type"].as_str() != Some(resource_type) {
            warnings.push(format!(
                "{} {} -> {}: its API {} is not an {resource_type} of this template; served without API settings",
                route.method, route.path, route.function, route.api
            ));
        }
        let setting = |key: &str| {
            properties
                .get(key)
                .or_else(|| globals.get(key))
                .filter(|v| !v.is_null())
        };
        let cors = match route.kind {
            ApiKind::Rest => {
                setting("Cors").and_then(|v| rest_cors(resolver, &route.api, v, warnings))
            }
            ApiKind::Http => setting("CorsConfiguration")
                .and_then(|v| http_cors(resolver, &route.api, v, warnings)),
        };
        let binary_media_types = match (route.kind, setting("BinaryMediaTypes")) {
            (ApiKind::Rest, Some(types)) => types
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(|t| resolver.resolve(t).ok())
                .map(|t| t.replace("~1", "/").to_ascii_lowercase())
                .collect(),
            (ApiKind::Http, Some(_)) => {
                warnings.push(format!(
                    "{}: HTTP APIs have no BinaryMediaTypes; non-text bodies reach the function base64-encoded",
                    route.api
                ));
                Vec::new()
            }
            (_, None) => Vec::new(),
        };
        let stage = match route.kind {
            ApiKind::Http => setting("StageName").and_then(|v| resolver.resolve(v).ok()),
            ApiKind::Rest => None,
        };
        let (authorizers, default_authorizer) =
            read_authorizers(&route.api, route.kind, setting("Auth"), warnings);
        apis.push(Api {
            id: route.api.clone(),
            kind: route.kind,
            cors,
            binary_media_types,
            stage,
            authorizers,
            default_authorizer,
            authorize_preflight: setting("Auth")
                .and_then(|a| a["AddDefaultAuthorizerToCorsPreflight"].as_bool())
                .unwrap_or(true),
        });
    }
    apis
}

/// An API's `Auth`: the authorizers the local cloud emulates (a REST API's
/// `UserPoolArn` ones, an HTTP API's `JwtConfiguration` ones) and the
/// default one; any other kind is named in a warning, and routes that use
/// it are served unchecked.
fn read_authorizers(
    api: &str,
    kind: ApiKind,
    auth: Option<&Value>,
    warnings: &mut Vec<String>,
) -> (BTreeMap<String, Authorizer>, Option<String>) {
    let mut authorizers = BTreeMap::new();
    let Some(auth) = auth else {
        return (authorizers, None);
    };
    for (name, definition) in auth["Authorizers"]
        .as_mapping()
        .into_iter()
        .flat_map(|m| m.iter())
    {
        let Some(name) = name.as_str() else { continue };
        let emulated = match kind {
            ApiKind::Rest if definition.get("UserPoolArn").is_some() => {
                let header = definition["Identity"]["Header"]
                    .as_str()
                    .unwrap_or("Authorization");
                Some((AuthorizerKind::CognitoUserPool, header.to_owned()))
            }
            ApiKind::Http if definition.get("JwtConfiguration").is_some() => {
                let source = definition["IdentitySource"]
                    .as_str()
                    .unwrap_or("$request.header.Authorization");
                let header = source
                    .strip_prefix("$request.header.")
                    .unwrap_or("Authorization");
                Some((AuthorizerKind::Jwt, header.to_owned()))
            }
            _ => None,
        };
        match emulated {
            Some((kind, header)) => {
                authorizers.insert(
                    name.to_owned(),
                    Authorizer {
                        name: name.to_owned(),
                        kind,
                        header,
                    },
                );
            }
            None => warnings.push(format!(
                "{api}: authorizer {name} is not emulated (only Cognito user pool and JWT authorizers are); its routes are served without it"
            )),
        }
    }
    let default = auth["DefaultAuthorizer"]
        .as_str()
        .filter(|d| *d != "NONE")
        .filter(|d| authorizers.contains_key(*d))
        .map(str::to_owned);
    (authorizers, default)
}

/// SAM's `Cors` on a REST API: a quoted origin (`"'*'"`), or
/// `AllowOrigin` (required), `AllowMethods`, `AllowHeaders`, `MaxAge` as
/// quoted comma lists and `AllowCredentials` (sam-property-api-corsconfiguration).
fn rest_cors(
    resolver: &Resolver<'_>,
    api: &str,
    value: &Value,
    warnings: &mut Vec<String>,
) -> Option<Cors> {
    let unquote = |v: &Value| -> Option<String> {
        resolver
            .resolve(v)
            .ok()
            .map(|s| s.trim().trim_matches('\'').to_owned())
    };
    let list = |v: Option<&Value>| -> Option<Vec<String>> {
        v.and_then(unquote).map(|s| {
            s.split(',')
                .map(|part| part.trim().to_owned())
                .filter(|part| !part.is_empty())
                .collect()
        })
    };
    if let Some(origin) = value.as_str() {
        return Some(Cors {
            allow_origins: vec![origin.trim().trim_matches('\'').to_owned()],
            ..Cors::default()
        });
    }
    let Some(origin) = value.get("AllowOrigin").and_then(unquote) else {
        warnings.push(format!(
            "{api}: Cors has no AllowOrigin (SAM requires it); no CORS preflight is answered"
        ));
        return None;
    };
    Some(Cors {
        allow_origins: vec![origin],
        allow_methods: list(value.get("AllowMethods")),
        allow_headers: list(value.get("AllowHeaders")).unwrap_or_default(),
        expose_headers: Vec::new(),
        max_age: value
            .get("MaxAge")
            .and_then(unquote)
            .and_then(|s| s.parse().ok()),
        allow_credentials: value["AllowCredentials"].as_bool().unwrap_or(false),
    })
}

/// `CorsConfiguration` on an HTTP API: `true` (SAM: every origin, header
/// and method) or lists `AllowOrigins`, `AllowHeaders`, `AllowMethods`,
/// `ExposeHeaders`, and `MaxAge`, `AllowCredentials`.
fn http_cors(
    resolver: &Resolver<'_>,
    api: &str,
    value: &Value,
    warnings: &mut Vec<String>,
) -> Option<Cors> {
    match value {
        Value::Bool(false) => return None,
        Value::Bool(true) => {
            return Some(Cors {
                allow_origins: vec!["*".to_owned()],
                allow_methods: Some(vec!["*".to_owned()]),
                allow_headers: vec!["*".to_owned()],
                ..Cors::default()
            });
        }
        Value::Mapping(_) => {}
        other => {
            warnings.push(format!(
                "{api}: CorsConfiguration {} is neither true nor a mapping; no CORS is applied",
                describe(other)
            ));
            return None;
        }
    }
    let list = |key: &str| -> Vec<String> {
        value[key]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|v| resolver.resolve(v).ok())
            .collect()
    };
    Some(Cors {
        allow_origins: list("AllowOrigins"),
        allow_methods: Some(list("AllowMethods")),
        allow_headers: list("AllowHeaders"),
        expose_headers: list("ExposeHeaders"),
        max_age: value
            .get("MaxAge")
            .and_then(|v| resolver.resolve(v).ok())
            .and_then(|s| s.parse().ok()),
        allow_credentials: value["AllowCredentials"].as_bool().unwrap_or(false),
    })
}

/// `AWS::Lambda::EventInvokeConfig` resources, applied to the function
/// their `FunctionName` references.
fn apply_invoke_configs(
    resolver: &Resolver<'_>,
    template: &Template,
    functions: &mut [FunctionSpec],
    warnings: &mut Vec<String>,
) {
    for (id, resource) in template.resources_raw() {
        if resource["Type"] != "AWS::Lambda::EventInvokeConfig" {
            continue;
        }
        let properties = &resource["Properties"];
        let target = reference(&properties["FunctionName"]);
        let Some(function) = target.and_then(|t| functions.iter_mut().find(|f| f.is_named(&t)))
        else {
            warnings.push(format!(
                "{id}: EventInvokeConfig for a function this template does not run locally"
            ));
            continue;
        };
        read_invoke_config(
            resolver,
            id,
            properties,
            &mut function.async_config,
            warnings,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn read_event(
    function: &str,
    name: &str,
    event: &Value,
    routes: &mut Vec<Route>,
    rules: &mut Vec<Rule>,
    schedules: &mut Vec<Schedule>,
    warnings: &mut Vec<String>,
) -> Result<(), TemplateError> {
    let kind = event["Type"].as_str().unwrap_or_default();
    let properties = &event["Properties"];
    match kind {
        "Api" | "HttpApi" => {
            let rest = kind == "Api";
            // An HttpApi event without Path and Method is the API's
            // `$default` route (SAM: sam-property-function-httpapi).
            let default_route = !rest && properties.get("Path").is_none();
            let method = properties["Method"].as_str().unwrap_or("ANY");
            let path = properties["Path"].as_str().unwrap_or(if default_route {
                "$default"
            } else {
                "/{proxy+}"
            });
            let api = reference(&properties[if rest { "RestApiId" } else { "ApiId" }])
                .unwrap_or_else(|| {
                    if rest {
                        IMPLICIT_REST_API
                    } else {
                        IMPLICIT_HTTP_API
                    }
                    .to_owned()
                });
            routes.push(Route {
                kind: if rest { ApiKind::Rest } else { ApiKind::Http },
                api,
                method: if method == "x-amazon-apigateway-any-method" || method == "*" {
                    "ANY".to_owned()
                } else {
                    method.to_ascii_uppercase()
                },
                path: path.to_owned(),
                function: function.to_owned(),
                authorizer: properties["Auth"]["Authorizer"].as_str().map(str::to_owned),
            });
        }
        "Schedule" | "ScheduleV2" => {
            let expression = properties["Schedule"]
                .as_str()
                .or_else(|| properties["ScheduleExpression"].as_str())
                .unwrap_or_default();
            let enabled = properties["Enabled"].as_bool().unwrap_or(true)
                && properties["State"].as_str() != Some("DISABLED");
            match parse_rate(expression) {
                Some(period) if enabled => schedules.push(Schedule {
                    name: name.to_owned(),
                    function: function.to_owned(),
                    period,
                }),
                Some(_) => {}
                None => warnings.push(format!(
                    "{function}.{name}: schedule {expression:?} is not run locally (only rate(...) expressions are)"
                )),
            }
        }
        "EventBridgeRule" | "CloudWatchEvent" => {
            let pattern = pattern_json(name, properties.get("Pattern"))?;
            rules.push(Rule {
                name: name.to_owned(),
                pattern,
                targets: vec![function.to_owned()],
            });
        }
        other if !SERVED_EVENTS.contains(&other) => warnings.push(format!(
            "{function}.{name}: event source {other} is not emulated; invoke the function with `aws lambda invoke` against the control port instead"
        )),
        _ => {}
    }
    Ok(())
}

fn read_rule(
    template: &Template,
    id: &str,
    resource: &Value,
    rules: &mut Vec<Rule>,
    schedules: &mut Vec<Schedule>,
    warnings: &mut Vec<String>,
) -> Result<(), TemplateError> {
    let properties = &resource["Properties"];
    if properties["State"].as_str() == Some("DISABLED") {
        return Ok(());
    }
    let mut targets = Vec::new();
    for target in properties["Targets"].as_sequence().into_iter().flatten() {
        match getatt_resource(&target["Arn"]) {
            Some(resource)
                if template.resources_raw().iter().any(|(name, r)| {
                    *name == resource && r["Type"] == "AWS::Serverless::Function"
                }) =>
            {
                if !target["Input"].is_null() || !target["InputPath"].is_null() || !target["InputTransformer"].is_null() {
                    warnings.push(format!("{id}: target {resource}'s Input/InputPath/InputTransformer is not emulated; the whole event is delivered"));
                }
                targets.push(resource);
            }
            _ => warnings.push(format!(
                "{id}: target {} is not a function of this template; events it matches are not delivered there locally",
                target["Id"].as_str().unwrap_or("?")
            )),
        }
    }
    if let Some(expression) = properties["ScheduleExpression"].as_str() {
        match parse_rate(expression) {
            Some(period) => schedules.extend(targets.iter().map(|function| Schedule {
                name: id.to_owned(),
                function: function.clone(),
                period,
            })),
            None => warnings.push(format!(
                "{id}: schedule {expression:?} is not run locally (only rate(...) expressions are)"
            )),
        }
    }
    if properties.get("EventPattern").is_some() {
        rules.push(Rule {
            name: id.to_owned(),
            pattern: template.rule_pattern(id)?,
            targets,
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
