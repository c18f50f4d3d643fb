//! The template's own resources, made locally from their definitions:
//! tables on the DynamoDB endpoint (the embedded one by default), queues,
//! topics with their subscriptions, and buckets on moto's server, which
//! the local cloud installs and starts when the template has any.
//!
//! Each is made with the API call the service documents for it, signed
//! for a local account (neither backend checks signatures), so what the
//! functions and the AWS CLI later see is what CloudFormation would have
//! left: the same names, keys, indexes, streams and attributes.
//!
//! Invariant: a resource that already exists (a table kept in the
//! embedded store's file, say) is left as it is, never replaced.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::model::{ACCOUNT, Model, QueueSpec, TableSpec, TopicSpec};

#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    #[error("{service} at {endpoint} did not answer {action}: {source}")]
    Unreachable {
        service: &'static str,
        endpoint: String,
        action: String,
        source: reqwest::Error,
    },
    #[error("{action} for {resource} failed: HTTP {status}: {body}")]
    Refused {
        action: String,
        resource: String,
        status: u16,
        body: String,
    },
    #[error("moto, for the template's queues, topics and buckets: {0}")]
    Moto(#[source] local_services::ServiceError),
    #[error("starting moto, for the template's queues, topics and buckets: {0}")]
    MotoThread(#[source] tokio::task::JoinError),
}

/// A call to an AWS API on a local backend: SigV4's header shape for a
/// local account (the credential scope routes it), no real signature.
struct Caller {
    http: reqwest::Client,
    region: String,
}

impl Caller {
    fn new(region: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            region: region.to_owned(),
        }
    }

    fn authorization(&self, service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=local/20260101/{}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000",
            self.region
        )
    }

    /// A JSON-protocol call (`X-Amz-Target`).
    async fn json(
        &self,
        endpoint: &str,
        service: &'static str,
        target: &str,
        body: &Value,
    ) -> Result<(u16, Value), ResourceError> {
        let response = self
            .http
            .post(endpoint)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", target)
            .header("x-amz-date", "20260101T000000Z")
            .header("authorization", self.authorization(service))
            .body(body.to_string())
            .send()
            .await
            .map_err(|source| ResourceError::Unreachable {
                service,
                endpoint: endpoint.to_owned(),
                action: target.to_owned(),
                source,
            })?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// A query-protocol call (form fields, as SNS takes them).
    async fn query(
        &self,
        endpoint: &str,
        service: &'static str,
        fields: &[(String, String)],
    ) -> Result<(u16, String), ResourceError> {
        let action = fields
            .iter()
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let response = self
            .http
            .post(endpoint)
            .header("x-amz-date", "20260101T000000Z")
            .header("authorization", self.authorization(service))
            .form(fields)
            .send()
            .await
            .map_err(|source| ResourceError::Unreachable {
                service,
                endpoint: endpoint.to_owned(),
                action,
                source,
            })?;
        let status = response.status().as_u16();
        Ok((status, response.text().await.unwrap_or_default()))
    }
}

/// Creates the model's tables at `endpoint` that are not there yet, and
/// returns what only the made table knows: `LogicalId.StreamArn` for each
/// table with a stream.
pub async fn make_tables(
    endpoint: &str,
    region: &str,
    tables: &[TableSpec],
) -> Result<BTreeMap<String, String>, ResourceError> {
    let caller = Caller::new(region);
    let mut live = BTreeMap::new();
    for table in tables {
        let describe = json!({"TableName": table.name});
        let (status, described) = caller
            .json(
                endpoint,
                "dynamodb",
                "DynamoDB_20120810.DescribeTable",
                &describe,
            )
            .await?;
        let description = if status == 200 {
            described
        } else {
            let (status, created) = caller
                .json(
                    endpoint,
                    "dynamodb",
                    "DynamoDB_20120810.CreateTable",
                    &table.create,
                )
                .await?;
            if status != 200 {
                return Err(refused("CreateTable", &table.name, status, &created));
            }
            if let Some(attribute) = &table.ttl_attribute {
                let ttl = json!({
                    "TableName": table.name,
                    "TimeToLiveSpecification": {"AttributeName": attribute, "Enabled": true},
                });
                let (status, answer) = caller
                    .json(
                        endpoint,
                        "dynamodb",
                        "DynamoDB_20120810.UpdateTimeToLive",
                        &ttl,
                    )
                    .await?;
                if status != 200 {
                    return Err(refused("UpdateTimeToLive", &table.name, status, &answer));
                }
            }
            tracing::info!("  table {} ({}) created", table.name, table.id);
            created
        };
        let table_description = &description["Table"];
        let table_description = if table_description.is_null() {
            &description["TableDescription"]
        } else {
            table_description
        };
        if let Some(arn) = table_description["LatestStreamArn"].as_str() {
            live.insert(format!("{}.StreamArn", table.id), arn.to_owned());
        }
    }
    Ok(live)
}

fn refused(action: &str, resource: &str, status: u16, body: &Value) -> ResourceError {
    ResourceError::Refused {
        action: action.to_owned(),
        resource: resource.to_owned(),
        status,
        body: match body {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        },
    }
}

/// Whether the model has what moto serves.
pub fn needs_moto(model: &Model) -> bool {
    !(model.queues.is_empty() && model.topics.is_empty() && model.buckets.is_empty())
}

/// Installs (into `venv`, when missing) and starts moto's server.
pub async fn start_moto(venv: &Path) -> Result<local_services::moto::Moto, ResourceError> {
    let venv = venv.to_owned();
    tokio::task::spawn_blocking(move || {
        local_services::moto::Moto::install(&venv)?;
        local_services::moto::Moto::start_from(&venv)
    })
    .await
    .map_err(ResourceError::MotoThread)?
    .map_err(ResourceError::Moto)
}

/// Makes the model's queues, topics (with their SQS subscriptions) and
/// buckets on moto at `endpoint`.
pub async fn make_messaging(
    endpoint: &str,
    region: &str,
    model: &Model,
    warnings: &mut Vec<String>,
) -> Result<(), ResourceError> {
    let caller = Caller::new(region);
    make_queues(&caller, endpoint, &model.queues).await?;
    for topic in &model.topics {
        make_topic(&caller, endpoint, region, topic, warnings).await?;
    }
    for bucket in &model.buckets {
        let mut request = caller
            .http
            .put(format!(
                "{}/{}",
                endpoint.trim_end_matches('/'),
                bucket.name
            ))
            .header("x-amz-date", "20260101T000000Z")
            .header("authorization", caller.authorization("s3"));
        // Outside us-east-1, CreateBucket names its region.
        if region != "us-east-1" {
            request = request.body(format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
            ));
        }
        let response = request
            .send()
            .await
            .map_err(|source| ResourceError::Unreachable {
                service: "s3",
                endpoint: endpoint.to_owned(),
                action: "CreateBucket".to_owned(),
                source,
            })?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        // A bucket this account already owns is there: what is wanted.
        if status != 200 && !body.contains("BucketAlreadyOwnedByYou") {
            return Err(ResourceError::Refused {
                action: "CreateBucket".to_owned(),
                resource: bucket.name.clone(),
                status,
                body,
            });
        }
        tracing::info!("  bucket {} ({})", bucket.name, bucket.id);
    }
    Ok(())
}

/// Queues in two passes: every queue, then the redrive policies, so a
/// dead-letter queue exists before a queue names it.
async fn make_queues(
    caller: &Caller,
    endpoint: &str,
    queues: &[QueueSpec],
) -> Result<(), ResourceError> {
    for queue in queues {
        let attributes: BTreeMap<&String, &String> = queue
            .attributes
            .iter()
            .filter(|(k, _)| !k.starts_with("Redrive"))
            .collect();
        let request = json!({"QueueName": queue.name, "Attributes": attributes});
        let (status, answer) = caller
            .json(endpoint, "sqs", "AmazonSQS.CreateQueue", &request)
            .await?;
        if status != 200 {
            return Err(refused("CreateQueue", &queue.name, status, &answer));
        }
        tracing::info!("  queue {} ({})", queue.name, queue.id);
    }
    for queue in queues {
        let redrive: BTreeMap<&String, &String> = queue
            .attributes
            .iter()
            .filter(|(k, _)| k.starts_with("Redrive"))
            .collect();
        if redrive.is_empty() {
            continue;
        }
        let request = json!({
            "QueueUrl": format!("{}/{ACCOUNT}/{}", endpoint.trim_end_matches('/'), queue.name),
            "Attributes": redrive,
        });
        let (status, answer) = caller
            .json(endpoint, "sqs", "AmazonSQS.SetQueueAttributes", &request)
            .await?;
        if status != 200 {
            return Err(refused("SetQueueAttributes", &queue.name, status, &answer));
        }
    }
    Ok(())
}

async fn make_topic(
    caller: &Caller,
    endpoint: &str,
    region: &str,
    topic: &TopicSpec,
    warnings: &mut Vec<String>,
) -> Result<(), ResourceError> {
    let mut fields = vec![
        ("Action".to_owned(), "CreateTopic".to_owned()),
        ("Version".to_owned(), "2010-03-31".to_owned()),
        ("Name".to_owned(), topic.name.clone()),
    ];
    if topic.fifo {
        fields.push(("Attributes.entry.1.key".to_owned(), "FifoTopic".to_owned()));
        fields.push(("Attributes.entry.1.value".to_owned(), "true".to_owned()));
    }
    let (status, body) = caller.query(endpoint, "sns", &fields).await?;
    if status != 200 {
        return Err(ResourceError::Refused {
            action: "CreateTopic".to_owned(),
            resource: topic.name.clone(),
            status,
            body,
        });
    }
    tracing::info!("  topic {} ({})", topic.name, topic.id);
    let arn = format!("arn:aws:sns:{region}:{ACCOUNT}:{}", topic.name);
    for subscription in &topic.subscriptions {
        if subscription.protocol != "sqs" {
            warnings.push(format!(
                "{}: the {} subscription to {} is not delivered locally (SQS subscriptions are)",
                topic.id, subscription.protocol, subscription.endpoint
            ));
            continue;
        }
        let mut fields = vec![
            ("Action".to_owned(), "Subscribe".to_owned()),
            ("Version".to_owned(), "2010-03-31".to_owned()),
            ("TopicArn".to_owned(), arn.clone()),
            ("Protocol".to_owned(), "sqs".to_owned()),
            ("Endpoint".to_owned(), subscription.endpoint.clone()),
        ];
        for (n, (key, value)) in subscription.attributes.iter().enumerate() {
            fields.push((format!("Attributes.entry.{}.key", n + 1), key.clone()));
            fields.push((format!("Attributes.entry.{}.value", n + 1), value.clone()));
        }
        let (status, body) = caller.query(endpoint, "sns", &fields).await?;
        if status != 200 {
            return Err(ResourceError::Refused {
                action: "Subscribe".to_owned(),
                resource: format!("{} -> {}", topic.name, subscription.endpoint),
                status,
                body,
            });
        }
    }
    Ok(())
}
