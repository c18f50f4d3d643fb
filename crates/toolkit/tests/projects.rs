//! Rust SAM projects that no one wrote for this toolkit, run unchanged:
//! the fixture projects under `tests/projects/` have the shapes of the
//! public aws-samples serverless-patterns Rust projects and of
//! serverless-rust-demo (functions found as `sam build` finds them, their
//! own tables, queues and buses), and each is driven here as its README
//! drives it in the cloud, with the AWS CLI against the local cloud's one
//! endpoint.
//!
//! Each test starts `orders-toolkit local --template ...` in the
//! project's folder on free ports (the embedded DynamoDB in memory, moto
//! for queues, topics and buckets) and stops it at the end. Needs the AWS
//! CLI (`AWS_CLI`, else `aws` on the PATH) and moto's server, which
//! `cargo xtask test-integration` installs under `target/`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A local cloud serving one project.
struct Cloud {
    child: Child,
    log: PathBuf,
    api: String,
    endpoint: String,
}

fn project(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/projects")
        .join(name)
}

impl Cloud {
    /// `orders-toolkit local --template TEMPLATE` in `dir`, ready.
    fn start(dir: &Path, template: &str) -> Self {
        let scratch = std::env::temp_dir().join(format!(
            "projects-{}-{}",
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("x"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).expect("scratch dir");
        let ready = scratch.join("ready.json");
        let log = scratch.join("local.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_orders-toolkit"))
            .current_dir(dir)
            .args(["local", "--template", template, "--dynamodb", "memory"])
            .args(["--port", "0", "--lambda-port", "0", "--ready-file"])
            .arg(&ready)
            // A cloud of its own: its queues' and tables' names are the
            // template's, so a moto or DynamoDB another suite shares (as
            // test-integration hands them out) would mix two projects.
            .env_remove("MOTO_ENDPOINT")
            .env_remove("DYNAMODB_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("orders-toolkit starts");
        let mut cloud = Self {
            child,
            log,
            api: String::new(),
            endpoint: String::new(),
        };
        // The first start may build the project's binaries.
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                let value: Value = serde_json::from_str(&text).expect("ready file");
                cloud.api = format!("http://{}", value["api"].as_str().expect("api"));
                cloud.endpoint = format!("http://{}", value["control"].as_str().expect("control"));
                return cloud;
            }
            if let Ok(Some(status)) = cloud.child.try_wait() {
                panic!("the local cloud exited ({status}):\n{}", cloud.log());
            }
            assert!(Instant::now() < deadline, "not ready:\n{}", cloud.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log has a line containing `text`.
    fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log().contains(text) {
            assert!(Instant::now() < deadline, "no {text:?} in:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The value of an output line (`output NAME: VALUE`) at start.
    fn output(&self, name: &str) -> String {
        let prefix = format!("output {name}: ");
        self.log()
            .lines()
            .find_map(|line| line.split_once(&prefix).map(|(_, v)| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no output {name} in:\n{}", self.log()))
    }

    /// `aws ARGS --endpoint-url ENDPOINT --output json`, which must succeed.
    fn aws(&self, args: &[&str]) -> Value {
        let output = self.aws_output(args);
        assert!(
            output.status.success(),
            "aws {}: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        if output.stdout.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
    }

    fn aws_output(&self, args: &[&str]) -> Output {
        let cli = std::env::var("AWS_CLI").unwrap_or_else(|_| "aws".to_owned());
        Command::new(&cli)
            .args(args)
            .args(["--endpoint-url", &self.endpoint, "--output", "json"])
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_PAGER", "")
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run the AWS CLI {cli} (set AWS_CLI, or cargo xtask test-integration installs it): {e}")
            })
    }

    /// `aws lambda invoke`: the function's answer.
    fn invoke(&self, function: &str, payload: &str) -> Value {
        let out = self.log.with_extension(format!("{function}.json"));
        let payload_file = self.log.with_extension("payload.json");
        std::fs::write(&payload_file, payload).expect("payload");
        let payload_arg = format!("fileb://{}", payload_file.display());
        let answer = self.aws(&[
            "lambda",
            "invoke",
            "--function-name",
            function,
            "--payload",
            &payload_arg,
            out.to_str().expect("utf-8 path"),
        ]);
        assert_eq!(answer["StatusCode"], 200, "{answer}");
        assert!(
            answer.get("FunctionError").is_none(),
            "{answer}\n{}",
            self.log()
        );
        serde_json::from_slice(&std::fs::read(&out).expect("answer")).expect("JSON answer")
    }

    /// One HTTP request to the API: (status, body).
    fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let address = self.api.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("request");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("reply");
        let status = reply
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not HTTP: {reply}"));
        let body = reply
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        // Ctrl-C, as a user stops it: it stops its function processes.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// apigw-lambda-rust: a REST API resource, `CodeUri: .`, no `Binary`.
/// Its README: `curl -X POST .../do -d '{"prop1": "Hello","prop2": "World"}'`.
#[test]
fn a_rest_api_project_answers_its_route() {
    let cloud = Cloud::start(&project("apigw-rest"), "template.yml");
    let (status, body) = cloud.http("POST", "/do", r#"{"prop1": "Hello","prop2": "World"}"#);
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["message"], "Hello World");
    assert_eq!(body["payload"]["prop2"], "World");
    // The stack's output names the local API (a REST API's stage is not
    // part of the local path).
    assert_eq!(cloud.output("HttpApiEndpoint"), format!("{}/", cloud.api));
    // An undeclared route is API Gateway's 403.
    assert_eq!(cloud.http("GET", "/do", "").0, 403);
}

/// eventbridge-lambda-rust: a rule with a prefix pattern. Its README puts
/// events on the default bus; only `location` "EUR-..." reaches the
/// function.
#[test]
fn an_eventbridge_rule_project_gets_only_the_events_its_pattern_matches() {
    let cloud = Cloud::start(&project("eventbridge-consumer"), "template.yml");
    let entries = r#"[{"Source":"custom.myApp","DetailType":"transaction","Detail":"{\"location\":\"EUR-DE\"}"},{"Source":"custom.myApp","DetailType":"transaction","Detail":"{\"location\":\"USD-US\"}"}]"#;
    let put = cloud.aws(&["events", "put-events", "--entries", entries]);
    assert_eq!(put["FailedEntryCount"], 0, "{put}");
    cloud.wait_for_log("transaction at EUR-DE");
    // A later event through the same rule shows the first round is done.
    let later = r#"[{"Source":"custom.myApp","DetailType":"transaction","Detail":"{\"location\":\"EUR-FR\"}"}]"#;
    cloud.aws(&["events", "put-events", "--entries", later]);
    cloud.wait_for_log("transaction at EUR-FR");
    let log = cloud.log();
    assert!(!log.contains("transaction at USD"), "{log}");
    assert_eq!(log.matches("[ConsumerFunction] START").count(), 2, "{log}");
}

/// lambda-dynamodb-rust: a function writing to its own table keyed `ID`.
/// Its README: `aws lambda invoke`, then the item is in the table.
#[test]
fn a_function_writes_to_its_own_table_and_the_cli_scans_it() {
    let cloud = Cloud::start(&project("dynamodb-writer"), "template.yml");
    let answer = cloud.invoke("LambdaPutDynamoDB", r#"{"hello":"world"}"#);
    let id = answer["ID"].as_str().expect("an ID").to_owned();
    let table = cloud.output("DynamoDbTable");
    assert!(table.starts_with("local-DynamoTable-"), "{table}");
    let scan = cloud.aws(&["dynamodb", "scan", "--table-name", &table]);
    assert_eq!(scan["Count"], 1, "{scan}");
    assert_eq!(scan["Items"][0]["ID"]["S"], id.as_str());
    assert_eq!(scan["Items"][0]["payload"]["S"], r#"{"hello":"world"}"#);
    let described = cloud.aws(&["dynamodb", "describe-table", "--table-name", &table]);
    assert_eq!(
        described["Table"]["KeySchema"][0]["AttributeName"], "ID",
        "{described}"
    );
}

/// lambda-sqs-rust-sam: the function sends to the template's queue, whose
/// URL it gets from `!Ref`. Its README: invoke, then `aws sqs
/// receive-message --queue-url` from the outputs.
#[test]
fn a_function_sends_to_the_templates_queue_and_the_cli_receives_it() {
    let cloud = Cloud::start(&project("sqs-publisher"), "template.yml");
    let answer = cloud.invoke("QueuePublisherFunction", "{}");
    let url = cloud.output("SQSqueueURL");
    assert_eq!(
        url,
        format!(
            "{}/123456789012/{}",
            cloud.endpoint,
            cloud.output("SQSqueueName")
        )
    );
    let received = cloud.aws(&["sqs", "receive-message", "--queue-url", &url]);
    let message = &received["Messages"][0];
    assert_eq!(message["Body"], "hello from my queue", "{received}");
    assert_eq!(message["MessageId"], answer["MessageId"]);
    let listed = cloud.aws(&["sqs", "list-queues"]);
    assert_eq!(listed["QueueUrls"], serde_json::json!([url]));
}

/// lambda-eventbridge-rust: `CodeUri: ./build/NAME` on `provided.al2`
/// with no build method; the function puts an event on the default bus,
/// read back from the endpoint's event feed.
#[test]
fn a_function_puts_an_event_on_its_bus_and_the_bus_has_it() {
    let cloud = Cloud::start(&project("bus-publisher"), "template.yaml");
    let answer = cloud.invoke("PublisherFunction", "{}");
    let id = answer["EventIds"][0]
        .as_str()
        .expect("an event id")
        .to_owned();
    let (status, feed) = {
        let address = cloud.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("connect");
        write!(
            stream,
            "GET /events HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .expect("request");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("reply");
        let (head, body) = reply.split_once("\r\n\r\n").expect("a body");
        (head[9..12].to_owned(), body.to_owned())
    };
    assert_eq!(status, "200", "{feed}");
    let feed: Value = serde_json::from_str(&feed).expect("JSON");
    let event = &feed["events"][0]["event"];
    assert_eq!(event["id"], id.as_str(), "{feed}");
    assert_eq!(event["source"], "demo.event");
    assert_eq!(event["detail"]["message"], "Hello from publisher");
}

/// serverless-rust-demo: four HTTP API functions on one table keyed `id`,
/// each `BuildMethod: makefile` with `CodeUri: target/lambda/NAME/`.
#[test]
fn the_products_project_puts_gets_lists_and_deletes() {
    let cloud = Cloud::start(&project("products"), "template.yaml");
    let put = cloud.http("PUT", "/p1", r#"{"id":"p1","name":"Tea","price":3.5}"#);
    assert_eq!(put.0, 201, "{}", put.1);
    let put = cloud.http("PUT", "/p2", r#"{"id":"p2","name":"Cake","price":4}"#);
    assert_eq!(put.0, 201, "{}", put.1);
    assert_eq!(cloud.http("PUT", "/p3", r#"{"id":"p4"}"#).0, 400);
    let (status, one) = cloud.http("GET", "/p1", "");
    assert_eq!(status, 200, "{one}");
    let one: Value = serde_json::from_str(&one).expect("JSON");
    assert_eq!(one["name"], "Tea");
    let (status, all) = cloud.http("GET", "/", "");
    assert_eq!(status, 200, "{all}");
    let all: Value = serde_json::from_str(&all).expect("JSON");
    let ids: Vec<&str> = all["products"]
        .as_array()
        .expect("products")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, ["p1", "p2"]);
    assert_eq!(cloud.http("DELETE", "/p1", "").0, 200);
    assert_eq!(cloud.http("GET", "/p1", "").0, 404);
    assert_eq!(cloud.output("ApiUrl"), format!("{}/", cloud.api));
}

/// A template of resources only: each made from its definition and served
/// on the one endpoint as the service answers (`sns publish` reaching a
/// subscribed queue, raw and enveloped; `s3 cp`; the FIFO queue's
/// redrive policy; the table's index, stream and TTL).
#[test]
fn the_templates_topics_queues_buckets_and_tables_answer_the_cli() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let cloud = Cloud::start(&fixtures, "resources.yaml");
    let topic = cloud.output("TopicArn");
    assert_eq!(topic, "arn:aws:sns:us-east-1:123456789012:notices");
    cloud.aws(&[
        "sns",
        "publish",
        "--topic-arn",
        &topic,
        "--message",
        "hello-topic",
    ]);
    let queue_url = |id: &str| -> String {
        let listed = cloud.aws(&["sqs", "list-queues"]);
        listed["QueueUrls"]
            .as_array()
            .expect("queues")
            .iter()
            .filter_map(Value::as_str)
            .find(|u| u.contains(&format!("/local-{id}-")))
            .unwrap_or_else(|| panic!("no queue {id}: {listed}"))
            .to_owned()
    };
    let raw = cloud.aws(&[
        "sqs",
        "receive-message",
        "--queue-url",
        &queue_url("RawNotices"),
    ]);
    assert_eq!(raw["Messages"][0]["Body"], "hello-topic", "{raw}");
    let wrapped = cloud.aws(&[
        "sqs",
        "receive-message",
        "--queue-url",
        &queue_url("NoticeQueue"),
    ]);
    let envelope: Value =
        serde_json::from_str(wrapped["Messages"][0]["Body"].as_str().expect("a body"))
            .expect("the SNS envelope");
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["Message"], "hello-topic");
    assert_eq!(envelope["TopicArn"], topic.as_str());

    let jobs = cloud.output("JobsUrl");
    assert!(jobs.ends_with(".fifo"), "{jobs}");
    let attributes = cloud.aws(&[
        "sqs",
        "get-queue-attributes",
        "--queue-url",
        &jobs,
        "--attribute-names",
        "All",
    ]);
    let policy: Value = serde_json::from_str(
        attributes["Attributes"]["RedrivePolicy"]
            .as_str()
            .expect("a redrive policy"),
    )
    .expect("JSON");
    assert_eq!(policy["maxReceiveCount"], 3);
    assert!(
        policy["deadLetterTargetArn"]
            .as_str()
            .is_some_and(|arn| arn.contains(":local-JobsDlq-") && arn.ends_with(".fifo")),
        "{policy}"
    );

    let bucket = cloud.output("Bucket");
    let file = cloud.log.with_extension("upload.txt");
    std::fs::write(&file, "uploaded").expect("file");
    let target = format!("s3://{bucket}/in/upload.txt");
    let copied = cloud.aws_output(&["s3", "cp", file.to_str().expect("utf-8"), &target]);
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    let listed = cloud.aws(&["s3api", "list-objects-v2", "--bucket", &bucket]);
    assert_eq!(listed["Contents"][0]["Key"], "in/upload.txt", "{listed}");

    let tables = cloud.aws(&["dynamodb", "list-tables"]);
    let events = tables["TableNames"]
        .as_array()
        .expect("tables")
        .iter()
        .filter_map(Value::as_str)
        .find(|t| t.starts_with("local-Events-"))
        .expect("the Events table")
        .to_owned();
    assert!(
        tables["TableNames"]
            .as_array()
            .expect("tables")
            .iter()
            .any(|t| t.as_str().is_some_and(|t| t.starts_with("local-Simple-"))),
        "{tables}"
    );
    let described = cloud.aws(&["dynamodb", "describe-table", "--table-name", &events]);
    let table = &described["Table"];
    assert_eq!(table["GlobalSecondaryIndexes"][0]["IndexName"], "ByKind");
    assert_eq!(
        table["StreamSpecification"]["StreamViewType"],
        "NEW_AND_OLD_IMAGES"
    );
    assert_eq!(
        table["LatestStreamArn"],
        cloud.output("EventsStream").as_str()
    );
    let ttl = cloud.aws(&["dynamodb", "describe-time-to-live", "--table-name", &events]);
    assert_eq!(ttl["TimeToLiveDescription"]["AttributeName"], "expires");
}
