//! Tests of the template model: functions, intrinsic functions resolved to
//! local values, parameters, async settings, and the warnings that name
//! what is not emulated.

use std::path::Path;

use super::*;

const TEMPLATE: &str = r#"
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  Secret:
    Type: String
Mappings:
  Sizes:
    dev: {Memory: 256}
Globals:
  Function:
    MemorySize: 128
    Timeout: 10
    Environment:
      Variables:
        STAGE: !Ref Stage
        TABLE_NAME: !Ref Table
        SHARED: from-globals
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${Stage}-things"
  Bus:
    Type: AWS::Events::EventBus
    Properties:
      Name: !Sub "${Stage}-bus"
  Failures:
    Type: AWS::SQS::Queue
  Echo:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: echo-bin
    Properties:
      FunctionName: !Sub "${AWS::StackName}-echo"
      MemorySize: !FindInMap [Sizes, !Ref Stage, Memory]
      Environment:
        Variables:
          SHARED: own
          BUS_ARN: !GetAtt Bus.Arn
          QUEUE: !GetAtt Failures.QueueUrl
          JOINED: !Join ["/", [a, !Ref Stage]]
          LONG: {"Fn::Sub": "${Table}@${AWS::Region}"}
          SECRET: !Ref Secret
          CHOICE: !If [IsProd, a, b]
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: !GetAtt Failures.Arn
      Events:
        Get:
          Type: Api
          Properties:
            Path: /echo/{id}
            Method: get
        Http:
          Type: HttpApi
          Properties:
            Path: /v2/echo
            Method: ANY
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(5 minutes)
        Nightly:
          Type: Schedule
          Properties:
            Schedule: cron(0 1 * * ? *)
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Failures.Arn
  Plain:
    Type: AWS::Serverless::Function
  PlainConfig:
    Type: AWS::Lambda::EventInvokeConfig
    Properties:
      FunctionName: !Ref Plain
      Qualifier: $LATEST
      MaximumRetryAttempts: 0
      MaximumEventAgeInSeconds: 120
  ToEcho:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !Ref Bus
      EventPattern: {source: [things]}
      Targets:
        - Id: Echo
          Arn: !GetAtt Echo.Arn
        - Id: Queue
          Arn: !GetAtt Failures.Arn
"#;

fn context(overrides: &[(&str, &str)]) -> Context {
    Context {
        region: "eu-west-1".to_owned(),
        stack: "local".to_owned(),
        table: None,
        overrides: overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Context::default()
    }
}

fn model(overrides: &[(&str, &str)]) -> Model {
    let template = Template::parse(Path::new("t.yaml"), TEMPLATE).unwrap();
    load(&template, &context(overrides)).unwrap()
}

fn env<'a>(model: &'a Model, function: &str, name: &str) -> Option<&'a str> {
    model
        .function(function)?
        .environment
        .get(name)
        .map(String::as_str)
}

#[test]
fn every_function_is_read_with_its_binary_name_and_settings() {
    let m = model(&[("Secret", "s3cr3t")]);
    let echo = m.function("Echo").unwrap();
    assert_eq!(echo.binary, "echo-bin");
    assert_eq!(echo.name, "local-echo");
    assert_eq!(echo.memory_mb, 256);
    assert_eq!(echo.timeout, Duration::from_secs(10));
    let plain = m.function("Plain").unwrap();
    assert_eq!(
        (plain.binary.as_str(), plain.name.as_str()),
        ("Plain", "Plain")
    );
    assert_eq!(plain.memory_mb, 128);
}

#[test]
fn intrinsic_functions_resolve_to_local_values() {
    let m = model(&[("Secret", "s3cr3t")]);
    let check =
        |name: &str, expected: &str| assert_eq!(env(&m, "Echo", name), Some(expected), "{name}");
    check("STAGE", "dev");
    check("TABLE_NAME", "dev-things");
    check("SHARED", "own");
    check(
        "BUS_ARN",
        "arn:aws:events:eu-west-1:123456789012:event-bus/dev-bus",
    );
    // An unnamed queue gets the name CloudFormation would give it.
    let failures = generated_name("local", "Failures", "AWS::SQS::Queue", false);
    assert!(failures.starts_with("local-Failures-"), "{failures}");
    check(
        "QUEUE",
        &format!("https://sqs.eu-west-1.amazonaws.com/123456789012/{failures}"),
    );
    check("JOINED", "a/dev");
    check("LONG", "dev-things@eu-west-1");
    check("SECRET", "s3cr3t");
    assert_eq!(env(&m, "Plain", "SHARED"), Some("from-globals"));
}

#[test]
fn parameter_overrides_win_over_defaults_and_are_checked() {
    let m = model(&[("Stage", "prod"), ("Secret", "x")]);
    assert_eq!(env(&m, "Echo", "TABLE_NAME"), Some("prod-things"));
    let tables: Vec<&str> = m.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tables, ["prod-things"]);
    let template = Template::parse(Path::new("t.yaml"), TEMPLATE).unwrap();
    let err = load(&template, &context(&[("Stage", "qa")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"qa\" is not one of its AllowedValues (dev, prod)"),
        "{err}"
    );
    let err = load(&template, &context(&[("Nope", "1")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("parameter Nope: the template declares no such parameter"),
        "{err}"
    );
}

#[test]
fn what_cannot_be_emulated_is_named_in_a_warning() {
    let m = model(&[]);
    let warnings = m.warnings.join("\n");
    for expected in [
        "parameter Secret has no Default",
        "Echo: environment variable SECRET is not set locally",
        "Echo: environment variable CHOICE is not set locally: cannot resolve condition IsProd: not defined",
        "Echo.Nightly: schedule \"cron(0 1 * * ? *)\" is not run locally",
        "Echo.Queue: event source SQS is not emulated",
        "ToEcho: target Queue is not a function of this template",
    ] {
        assert!(
            warnings.contains(expected),
            "{expected:?} not in\n{warnings}"
        );
    }
    assert_eq!(env(&m, "Echo", "CHOICE"), None);
}

#[test]
fn routes_rules_and_schedules_come_from_events_and_rule_resources() {
    let m = model(&[("Secret", "x")]);
    let routes: Vec<(ApiKind, &str, &str, &str)> = m
        .routes
        .iter()
        .map(|r| {
            (
                r.kind,
                r.method.as_str(),
                r.path.as_str(),
                r.function.as_str(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            (ApiKind::Rest, "GET", "/echo/{id}", "Echo"),
            (ApiKind::Http, "ANY", "/v2/echo", "Echo"),
        ]
    );
    assert_eq!(m.rules.len(), 1);
    assert_eq!(m.rules[0].name, "ToEcho");
    assert_eq!(m.rules[0].targets, ["Echo"]);
    assert_eq!(
        m.schedules,
        [Schedule {
            name: "Tick".into(),
            function: "Echo".into(),
            period: Duration::from_secs(300)
        }]
    );
}

#[test]
fn async_settings_come_from_the_function_or_an_invoke_config_resource() {
    let m = model(&[("Secret", "x")]);
    assert_eq!(
        m.function("Echo").unwrap().async_config,
        AsyncConfig {
            maximum_retry_attempts: 1,
            maximum_event_age: Duration::from_secs(21_600),
            on_failure: Some(format!(
                "arn:aws:sqs:eu-west-1:123456789012:{}",
                generated_name("local", "Failures", "AWS::SQS::Queue", false)
            )),
        }
    );
    let plain = &m.function("Plain").unwrap().async_config;
    assert_eq!(plain.maximum_retry_attempts, 0);
    assert_eq!(plain.maximum_event_age, Duration::from_secs(120));
}

#[test]
fn a_function_is_found_by_id_binary_name_or_arn() {
    let m = model(&[("Secret", "x")]);
    for name in [
        "Echo",
        "echo-bin",
        "local-echo",
        "arn:aws:lambda:eu-west-1:123456789012:function:local-echo",
        "arn:aws:lambda:eu-west-1:123456789012:function:local-echo:$LATEST",
        "123456789012:function:local-echo",
    ] {
        assert_eq!(
            m.function(name).map(|f| f.id.as_str()),
            Some("Echo"),
            "{name}"
        );
    }
    assert!(m.function("Nope").is_none());
}

#[test]
fn the_project_template_runs_both_functions_with_their_settings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
    let template = Template::load(&path).unwrap();
    let m = load(&template, &context(&[])).unwrap();
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert!(!m.functions.is_empty());
    for function in &m.functions {
        assert!(
            function.environment.contains_key("TABLE_NAME"),
            "{}",
            function.id
        );
        assert!(function.timeout >= Duration::from_secs(1));
    }
    assert_eq!(m.tables.len(), 1);
    // A rule's target is invoked asynchronously: what still fails after
    // Lambda's retries must land where an operator sees it.
    for rule in &m.rules {
        for target in &rule.targets {
            let function = m.function(target).unwrap();
            assert!(
                function.async_config.on_failure.is_some(),
                "{target}, the target of {}, has no OnFailure destination",
                rule.name
            );
        }
    }
}

#[test]
fn the_projects_alarms_on_the_services_own_metrics_name_metrics_the_relay_emits() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
    let template = Template::load(&path).unwrap();
    let emitted = adapters_eventbridge::relay_metrics(
        &domain::RelayReport::default(),
        "f",
        std::time::SystemTime::now(),
    );
    let mut checked = 0;
    for (id, resource) in template.resources_raw() {
        let properties = &resource["Properties"];
        if resource["Type"].as_str() != Some("AWS::CloudWatch::Alarm")
            || properties["Namespace"].as_str() != Some(adapters_eventbridge::METRICS_NAMESPACE)
        {
            continue;
        }
        let metric = properties["MetricName"].as_str().unwrap();
        assert!(
            emitted.get(metric).is_some(),
            "{id} alarms on {metric}, which the relay does not emit"
        );
        let dimensions: Vec<&str> = properties["Dimensions"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|d| d["Name"].as_str())
            .collect();
        assert_eq!(dimensions, ["FunctionName"], "{id}");
        checked += 1;
    }
    assert!(checked >= 1, "no alarm on the outbox metrics");
}

#[test]
fn the_api_functions_timeout_is_the_sum_its_template_comment_gives() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
    let template = Template::load(&path).unwrap();
    let m = load(&template, &context(&[])).unwrap();
    let api = m
        .functions
        .iter()
        .find(|f| f.binary == app::HTTP_API_BINARY)
        .unwrap();
    let dynamodb = adapters_dynamo::client_timeouts()
        .operation_timeout()
        .unwrap();
    let eventbridge = adapters_eventbridge::client_timeouts()
        .operation_timeout()
        .unwrap();
    // Store, one PutEvents round, clear the mark, then answer.
    let sum = dynamodb + eventbridge + dynamodb + adapters_http::ANSWER_MARGIN;
    assert_eq!(api.timeout, sum, "{:?} vs {sum:?}", api.timeout);
}

/// SAM's API settings: a REST API's `Cors` values unquoted (a string is
/// the origin), `BinaryMediaTypes` with `~1` read as `/`, `Globals.Api`
/// for the implicit API; an HTTP API's `CorsConfiguration: true` as SAM
/// expands it; routes know their API.
#[test]
fn api_settings_are_read_per_api_with_globals_for_the_implicit_ones() {
    let template = Template::parse(
        Path::new("t.yaml"),
        r#"
Globals:
  Api:
    Cors: "'https://a.example'"
    BinaryMediaTypes: ["image~1*"]
  HttpApi:
    CorsConfiguration: true
Resources:
  Named:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
      Cors:
        AllowOrigin: "'*'"
        AllowMethods: "'GET,POST'"
        MaxAge: "'60'"
        AllowCredentials: true
  F:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: f}}
    Properties:
      Events:
        A: {Type: Api, Properties: {Path: /a, Method: get}}
        B: {Type: Api, Properties: {RestApiId: !Ref Named, Path: /b, Method: post}}
        C: {Type: HttpApi}
"#,
    )
    .expect("parse");
    let model = load(&template, &context(&[])).expect("model");
    let api = |id: &str| model.apis.iter().find(|a| a.id == id).expect(id).clone();
    let implicit = api(IMPLICIT_REST_API);
    assert_eq!(
        implicit.cors.as_ref().map(|c| c.allow_origins.clone()),
        Some(vec!["https://a.example".to_owned()])
    );
    assert_eq!(implicit.binary_media_types, ["image/*"]);
    let named = api("Named").cors.expect("cors");
    assert_eq!(named.allow_origins, ["*"]);
    assert_eq!(
        named.allow_methods,
        Some(vec!["GET".to_owned(), "POST".to_owned()])
    );
    assert_eq!(named.max_age, Some(60));
    assert!(named.allow_credentials);
    let http = api(IMPLICIT_HTTP_API);
    assert_eq!(http.kind, ApiKind::Http);
    assert_eq!(http.cors.expect("cors").allow_headers, ["*"]);
    let default = model.routes.last().expect("routes");
    assert_eq!(
        (default.path.as_str(), default.method.as_str()),
        ("$default", "ANY")
    );
    assert_eq!(
        model
            .routes
            .iter()
            .find(|r| r.path == "/b")
            .map(|r| r.api.as_str()),
        Some("Named")
    );
}

/// SAM's `Auth`: Cognito user pool authorizers on a REST API and JWT ones
/// on an HTTP API are emulated; a Lambda authorizer is named in a
/// warning; an event's `Authorizer: NONE` is kept for the gateway.
#[test]
fn authorizers_are_read_per_api_and_others_are_named() {
    let template = Template::parse(
        Path::new("t.yaml"),
        r#"
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
      Auth:
        DefaultAuthorizer: Users
        AddDefaultAuthorizerToCorsPreflight: false
        Authorizers:
          Users:
            UserPoolArn: arn:aws:cognito-idp:us-east-1:123456789012:userpool/x
            Identity: {Header: X-Token}
          Custom:
            FunctionArn: arn:aws:lambda:us-east-1:123456789012:function:auth
  Http:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.X-Jwt
            JwtConfiguration: {issuer: https://example, audience: [a]}
  F:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: f}}
    Properties:
      Events:
        A: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /a, Method: get}}
        B: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /b, Method: get, Auth: {Authorizer: NONE}}}
        C: {Type: HttpApi, Properties: {ApiId: !Ref Http, Path: /c, Method: get}}
"#,
    )
    .expect("parse");
    let model = load(&template, &context(&[])).expect("model");
    let rest = model.apis.iter().find(|a| a.id == "Api").expect("Api");
    assert_eq!(rest.default_authorizer.as_deref(), Some("Users"));
    assert!(!rest.authorize_preflight);
    let users = &rest.authorizers["Users"];
    assert_eq!(
        (users.kind, users.header.as_str()),
        (AuthorizerKind::CognitoUserPool, "X-Token")
    );
    assert!(!rest.authorizers.contains_key("Custom"));
    assert!(
        model
            .warnings
            .iter()
            .any(|w| w.contains("authorizer Custom is not emulated")),
        "{:?}",
        model.warnings
    );
    let http = model.apis.iter().find(|a| a.id == "Http").expect("Http");
    let jwt = &http.authorizers["Jwt"];
    assert_eq!(
        (jwt.kind, jwt.header.as_str()),
        (AuthorizerKind::Jwt, "X-Jwt")
    );
    let route = |path: &str| model.routes.iter().find(|r| r.path == path).expect(path);
    assert_eq!(route("/a").authorizer, None);
    assert_eq!(route("/b").authorizer.as_deref(), Some("NONE"));
}

/// AWS::DynamoDB::Table, AWS::SQS::Queue and AWS::SNS::Topic reference
/// pages: the properties become the CreateTable request, the queue
/// attributes (RedrivePolicy as JSON with the dead-letter queue's ARN) and
/// the topic's subscriptions; `Ref` is a queue's URL and a topic's ARN;
/// an unnamed resource gets `{stack}-{LogicalId}-{suffix}`.
#[test]
fn resources_become_the_requests_that_make_them() {
    let template = Template::parse(
        Path::new("t.yaml"),
        r#"
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-items"
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: g, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: G
          KeySchema: [{AttributeName: g, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
          ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: 5}
      StreamSpecification: {StreamViewType: KEYS_ONLY}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dead.Arn, maxReceiveCount: 1}
  Dead:
    Type: AWS::SQS::Queue
    Properties: {QueueName: dead}
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      Subscription: [{Protocol: sqs, Endpoint: !GetAtt Work.Arn}]
  Raw:
    Type: AWS::SNS::Subscription
    Properties: {TopicArn: !Ref Topic, Protocol: sqs, Endpoint: !GetAtt Dead.Arn, RawMessageDelivery: true}
Outputs:
  WorkUrl: {Value: !Ref Work}
  TopicArn: {Value: !Ref Topic}
"#,
    )
    .expect("parse");
    let model = load(
        &template,
        &Context {
            region: "us-east-1".to_owned(),
            stack: "s".to_owned(),
            endpoint: Some("http://127.0.0.1:3001".to_owned()),
            ..Context::default()
        },
    )
    .expect("model");
    let table = &model.tables[0];
    assert_eq!(table.name, "s-items");
    assert_eq!(table.create["KeySchema"][0]["AttributeName"], "pk");
    assert_eq!(table.create["GlobalSecondaryIndexes"][0]["IndexName"], "G");
    assert!(
        table.create["GlobalSecondaryIndexes"][0]
            .get("ProvisionedThroughput")
            .is_none()
    );
    assert_eq!(
        table.create["StreamSpecification"],
        serde_json::json!({"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"})
    );
    assert_eq!(table.ttl_attribute.as_deref(), Some("ttl"));
    let work = model.queues.iter().find(|q| q.id == "Work").expect("Work");
    assert_eq!(
        work.name,
        generated_name("s", "Work", "AWS::SQS::Queue", false)
    );
    assert_eq!(work.attributes["VisibilityTimeout"], "30");
    let policy: serde_json::Value =
        serde_json::from_str(&work.attributes["RedrivePolicy"]).expect("JSON");
    assert_eq!(
        policy["deadLetterTargetArn"],
        "arn:aws:sqs:us-east-1:123456789012:dead"
    );
    assert_eq!(policy["maxReceiveCount"], 1);
    let topic = &model.topics[0];
    assert_eq!(topic.subscriptions.len(), 2);
    assert!(
        topic.subscriptions.iter().any(|s| s
            .attributes
            .get("RawMessageDelivery")
            .map(String::as_str)
            == Some("true"))
    );
    let output = |name: &str| {
        model
            .outputs
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone().ok())
            .expect(name)
    };
    assert_eq!(
        output("WorkUrl"),
        format!("http://127.0.0.1:3001/123456789012/{}", work.name)
    );
    assert_eq!(
        output("TopicArn"),
        format!("arn:aws:sns:us-east-1:123456789012:{}", topic.name)
    );
}

#[test]
fn generated_names_are_stable_and_shaped_as_cloudformations() {
    let name = generated_name("stack", "MyQueue", "AWS::SQS::Queue", false);
    assert_eq!(
        name,
        generated_name("stack", "MyQueue", "AWS::SQS::Queue", false)
    );
    assert_ne!(
        name,
        generated_name("other", "MyQueue", "AWS::SQS::Queue", false)
    );
    let suffix = name.strip_prefix("stack-MyQueue-").expect(&name);
    assert_eq!(suffix.len(), 12);
    assert!(
        suffix
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    assert!(generated_name("s", "Q", "AWS::SQS::Queue", true).ends_with(".fifo"));
    let bucket = generated_name("Stack", "Uploads", "AWS::S3::Bucket", false);
    assert_eq!(bucket, bucket.to_ascii_lowercase());
}

/// Fn::If with the template's Conditions (Fn::Equals, Fn::Not, Fn::And,
/// Fn::Or, Condition), as CloudFormation evaluates them for the stage.
#[test]
fn conditions_choose_the_branch_for_the_stage() {
    let text = r#"
Parameters:
  Stage: {Type: String, Default: dev}
  Email: {Type: String, Default: ""}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  HasEmail: !Not [!Equals [!Ref Email, ""]]
  ProdWithEmail: !And [!Condition IsProd, !Condition HasEmail]
  EitherOne: {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "HasEmail"}]}
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          TIER: !If [IsProd, gold, plain]
          MAIL: !If [ProdWithEmail, both, !If [EitherOne, one, none]]
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      Subscription: !If
        - HasEmail
        - - {Protocol: email, Endpoint: !Ref Email}
        - !Ref AWS::NoValue
"#;
    let template = Template::parse(Path::new("t.yaml"), text).unwrap();
    let check = |overrides: &[(&str, &str)], tier: &str, mail: &str, subscriptions: usize| {
        let m = load(&template, &context(overrides)).expect("model");
        assert_eq!(env(&m, "Echo", "TIER"), Some(tier), "{overrides:?}");
        assert_eq!(env(&m, "Echo", "MAIL"), Some(mail), "{overrides:?}");
        assert_eq!(
            m.topics[0].subscriptions.len(),
            subscriptions,
            "{overrides:?}"
        );
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    };
    check(&[], "plain", "none", 0);
    check(&[("Stage", "prod")], "gold", "one", 0);
    check(&[("Email", "ops@example.com")], "plain", "one", 1);
    check(
        &[("Stage", "prod"), ("Email", "ops@example.com")],
        "gold",
        "both",
        1,
    );
}
