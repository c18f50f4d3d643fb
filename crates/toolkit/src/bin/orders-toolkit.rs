//! `orders-toolkit`: the toolkit's command line, which `cargo xtask` runs.
//! Relative paths are taken from the current directory; the project root
//! (for `infra/template.yaml`) is the nearest directory upwards that has
//! one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
orders-toolkit <command> [options]

Commands:
  local       serve the API on 127.0.0.1 as API Gateway routes the template
              (orders-toolkit local --help)
  rule-test   match an event against a rule of the SAM template
              (orders-toolkit rule-test --help)
  invoke FUNCTION --event FILE|- --binary PATH
              run a function binary once under a Runtime API emulator
              (orders-toolkit invoke --help)
  doctor      check the set-up and the tutorial's traps (exit 1 on a failure)
  deploy --stage STAGE [--functions-only] [--x86-64] [--dry-run]
              build and deploy a stage (orders-toolkit deploy --help)
  event KIND  print a sample event: apigw-rest, apigw-http, eventbridge,
              scheduled, sqs, s3-put, dynamodb-stream
              (orders-toolkit event --help)
  dlq --stage STAGE [--redrive]
              list (or redrive) the events fn-events failed on, from the
              stage's failures queue (orders-toolkit dlq --help)
  remote invoke FUNCTION --stage STAGE --event FILE|-
              invoke a deployed function once: log tail, response, REPORT
              (orders-toolkit remote invoke --help)
  logs FUNCTION --stage STAGE [--since 10m] [--filter TEXT] [--follow]
              a deployed function's log events, oldest first
              (orders-toolkit logs --help)
  destroy --stage STAGE [--yes] [--dry-run]
              delete a stage's stack after saying what survives it
              (orders-toolkit destroy --help)
  listen --stage STAGE | --local URL [--pattern FILE] [--for 60s] [--count N]
              print the events reaching a bus, through a temporary rule and
              queue removed on exit (orders-toolkit listen --help)
  token --customer ID | --staff [--expires 60m]
              print an id token of the local user pool, which the local
              gateway's authorizers accept (orders-toolkit token --help)
  functions   list the template's functions, one tab-separated line each:
              logical id, binary, what invokes it (api, rule, schedule)
  services    start DynamoDB Local and moto's server (as the tests find
              them), print DYNAMODB_ENDPOINT=… and MOTO_ENDPOINT=…, and
              keep them until standard input closes
";

fn project_root() -> PathBuf {
    let here = std::env::current_dir().unwrap_or_else(|_| ".".into());
    here.ancestors()
        .find(|dir| dir.join("infra/template.yaml").is_file())
        .map_or_else(|| here.clone(), Path::to_path_buf)
}

fn fail(message: &str, usage: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {message}\n\n{usage}");
    ExitCode::from(2)
}

/// A command's own lines of `USAGE`, from the line naming it to the next
/// command's, for the commands that take no flags of their own.
fn command_usage(command: &str) -> Option<String> {
    let mut lines = USAGE.lines().skip_while(|line| {
        line.strip_prefix("  ")
            .and_then(|l| l.split_whitespace().next())
            != Some(command)
            || line.starts_with("   ")
    });
    let first = lines.next()?;
    let mut usage = format!("usage: orders-toolkit\n{first}\n");
    for line in lines.take_while(|line| line.starts_with("   ")) {
        usage.push_str(line);
        usage.push('\n');
    }
    Some(usage)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    match args.split_first() {
        Some((command, rest)) if command == "rule-test" => {
            let verdict = if toolkit::rule_test::wants_stage(rest) {
                match tokio::runtime::Runtime::new() {
                    Ok(runtime) => runtime.block_on(toolkit::rule_test::run_stage(rest, &root)),
                    Err(e) => return fail(&format!("no runtime: {e}"), ""),
                }
            } else {
                toolkit::rule_test::run(rest, &root)
            };
            let _ = std::io::stdout().write_all(verdict.stdout.as_bytes());
            let _ = std::io::stderr().write_all(verdict.stderr.as_bytes());
            ExitCode::from(verdict.code)
        }
        Some((command, rest)) if command == "local" => local(rest, &root),
        Some((command, rest)) if command == "event" => event(rest, &root),
        Some((command, rest)) if command == "dlq" => dlq(rest, &root),
        Some((command, rest)) if command == "remote" => remote(rest, &root),
        Some((command, rest)) if command == "logs" => logs(rest, &root),
        Some((command, rest)) if command == "listen" => listen(rest, &root),
        Some((command, rest)) if command == "destroy" => {
            let options = match toolkit::destroy::parse(rest) {
                Ok(Some(options)) => options,
                Ok(None) => {
                    let _ = std::io::stdout().write_all(toolkit::destroy::USAGE.as_bytes());
                    return ExitCode::SUCCESS;
                }
                Err(e) => return fail(&e, toolkit::destroy::USAGE),
            };
            let (out, code) = toolkit::destroy::run(&root, &options, &mut std::io::stdin().lock());
            let _ = std::io::stdout().write_all(out.as_bytes());
            ExitCode::from(code)
        }
        Some((command, rest)) if command == "invoke" => invoke(rest, &root),
        Some((command, rest)) if command == "token" => token(rest, &root),
        // `doctor`, `services` and `functions` take no flags: `--help`
        // shows their lines of the usage instead of running them.
        Some((command, rest))
            if matches!(command.as_str(), "doctor" | "services" | "functions")
                && rest.iter().any(|a| a == "--help" || a == "-h") =>
        {
            let usage = command_usage(command).unwrap_or_else(|| USAGE.to_owned());
            let _ = std::io::stdout().write_all(usage.as_bytes());
            ExitCode::SUCCESS
        }
        Some((command, _)) if command == "doctor" => doctor(&root),
        Some((command, _)) if command == "services" => services(),
        Some((command, _)) if command == "functions" => functions(&root),
        Some((command, rest)) if command == "deploy" => deploy(rest, &root),
        Some((help, _)) if help == "--help" || help == "-h" || help == "help" => {
            let _ = std::io::stdout().write_all(USAGE.as_bytes());
            ExitCode::SUCCESS
        }
        Some((command, _)) => fail(&format!("unknown command `{command}`"), USAGE),
        None => fail("no command", USAGE),
    }
}

/// The template's functions, for tasks that must not name them (the
/// bench): `LogicalId<TAB>binary<TAB>api,rule,schedule`.
fn functions(root: &Path) -> ExitCode {
    let loaded = toolkit::template::Template::load(&root.join("infra/template.yaml"))
        .map_err(|e| e.to_string())
        .and_then(|template| {
            toolkit::model::load(
                &template,
                &toolkit::model::Context {
                    region: "us-east-1".to_owned(),
                    stack: "local".to_owned(),
                    overrides: std::collections::BTreeMap::new(),
                    table: None,
                    ..Default::default()
                },
            )
            .map_err(|e| e.to_string())
        });
    let model = match loaded {
        Ok(model) => model,
        Err(why) => return fail(&why, ""),
    };
    let mut out = std::io::stdout();
    for function in &model.functions {
        let mut triggers = Vec::new();
        if model.routes.iter().any(|r| r.function == function.id) {
            triggers.push("api");
        }
        if model.rules.iter().any(|r| r.targets.contains(&function.id)) {
            triggers.push("rule");
        }
        if model.schedules.iter().any(|s| s.function == function.id) {
            triggers.push("schedule");
        }
        let _ = writeln!(
            out,
            "{}\t{}\t{}",
            function.id,
            function.binary,
            triggers.join(",")
        );
    }
    ExitCode::SUCCESS
}

/// DynamoDB Local and moto for a whole test run: started once, their
/// endpoints printed for the test binaries, stopped (by their watchdogs)
/// when standard input closes and this process ends.
fn services() -> ExitCode {
    let dynamodb = match local_services::dynamodb::DynamoDbLocal::start(
        &local_services::dynamodb::ProviderConfig::from_env(),
    ) {
        Ok(found) => found,
        Err(why) => return fail(&why.to_string(), ""),
    };
    let moto = match local_services::moto::Moto::start() {
        Ok(found) => found,
        Err(why) => return fail(&why.to_string(), ""),
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "DYNAMODB_ENDPOINT={}", dynamodb.endpoint());
    let _ = writeln!(out, "MOTO_ENDPOINT={}", moto.endpoint());
    let _ = out.flush();
    // Until the parent closes our standard input (or dies).
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    drop(moto);
    drop(dynamodb);
    ExitCode::SUCCESS
}

fn event(args: &[String], root: &Path) -> ExitCode {
    let Some((kind, rest)) = args.split_first() else {
        return fail("event needs a KIND", toolkit::events::USAGE);
    };
    if kind == "--help" || kind == "-h" {
        let _ = std::io::stdout().write_all(toolkit::events::USAGE.as_bytes());
        return ExitCode::SUCCESS;
    }
    let template = toolkit::template::Template::load(&root.join("infra/template.yaml"));
    let template = match (kind.as_str(), template) {
        (_, Ok(template)) => Some(template),
        // Only apigw-rest needs the routes.
        ("apigw-rest", Err(e)) => return fail(&e.to_string(), ""),
        (_, Err(_)) => None,
    };
    match toolkit::events::generate(kind, rest, template.as_ref()) {
        Ok(json) => {
            let _ = writeln!(std::io::stdout(), "{json}");
            ExitCode::SUCCESS
        }
        Err(message) => fail(&message, toolkit::events::USAGE),
    }
}

fn doctor(root: &Path) -> ExitCode {
    use toolkit::doctor::Level;
    let findings = toolkit::doctor::run(root);
    for finding in &findings {
        let _ = writeln!(std::io::stdout(), "{finding}");
    }
    let failed = findings.iter().filter(|f| f.level == Level::Fail).count();
    let warned = findings.iter().filter(|f| f.level == Level::Warn).count();
    let _ = writeln!(std::io::stdout(), "\n{failed} failed, {warned} warning(s)");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn deploy(args: &[String], root: &Path) -> ExitCode {
    use toolkit::deploy::USAGE;
    let options = match toolkit::deploy::parse(args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            let _ = std::io::stdout().write_all(USAGE.as_bytes());
            return ExitCode::SUCCESS;
        }
        Err(message) => return fail(&message, USAGE),
    };
    let (text, code) = toolkit::deploy::run(root, &options);
    if code == 0 {
        let _ = std::io::stdout().write_all(text.as_bytes());
    } else {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
    ExitCode::from(code)
}

/// An event as JSON from a file, or standard input for `-`.
fn read_event(event: &str) -> Result<serde_json::Value, String> {
    let text = if event == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("cannot read the event from standard input: {e}"))?;
        text
    } else {
        std::fs::read_to_string(event).map_err(|e| format!("cannot read the event {event}: {e}"))?
    };
    serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("the event {event} is not valid JSON: {e}"))
}

fn remote(args: &[String], root: &Path) -> ExitCode {
    use toolkit::remote::USAGE;
    let Some(("invoke", rest)) = args.split_first().map(|(c, r)| (c.as_str(), r)) else {
        return fail("remote takes a subcommand: invoke", USAGE);
    };
    with_options(
        rest,
        USAGE,
        toolkit::remote::parse_invoke,
        |options, runtime| {
            let event = match read_event(&options.event) {
                Ok(event) => event,
                Err(e) => return fail(&e, ""),
            };
            match runtime.block_on(toolkit::remote::run_invoke(&options, root, &event)) {
                Ok(reply) => {
                    let (stdout, stderr, code) = reply.render();
                    let _ = std::io::stderr().write_all(stderr.as_bytes());
                    let _ = std::io::stdout().write_all(stdout.as_bytes());
                    ExitCode::from(code)
                }
                Err(e) => failed(&e),
            }
        },
    )
}

fn logs(args: &[String], root: &Path) -> ExitCode {
    with_options(
        args,
        toolkit::logs::USAGE,
        toolkit::logs::parse_options,
        |options, runtime| {
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            let mut out = std::io::stdout();
            match runtime.block_on(toolkit::logs::run(&options, root, &mut out, stop)) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => failed(&e),
            }
        },
    )
}

fn listen(args: &[String], root: &Path) -> ExitCode {
    with_options(
        args,
        toolkit::listen::USAGE,
        toolkit::listen::parse_options,
        |options, runtime| {
            let stop = ctrl_c_from_now(runtime);
            let mut out = std::io::stdout();
            match runtime.block_on(toolkit::listen::run(&options, root, &mut out, stop)) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => failed(&e),
            }
        },
    )
}

/// Ctrl-C, caught from this moment: tokio installs its handler when the
/// future is first polled, and until then a Ctrl-C ends the process at
/// once. `listen` makes a rule and a queue before it first waits, and a
/// Ctrl-C in between would leave both behind; so the future is polled
/// once here, and a Ctrl-C during the set-up ends the listening as soon as
/// it starts, with its clean-up.
fn ctrl_c_from_now(
    runtime: &tokio::runtime::Runtime,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    let mut stop: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> = Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    runtime.block_on(std::future::poll_fn(|cx| {
        let _ = stop.as_mut().poll(cx);
        std::task::Poll::Ready(())
    }));
    stop
}

/// Reads a remote command's flags (printing its help when asked), then
/// runs it on a runtime.
fn with_options<O>(
    args: &[String],
    usage: &str,
    parse: fn(&[String]) -> Result<Option<O>, String>,
    run: impl FnOnce(O, &tokio::runtime::Runtime) -> ExitCode,
) -> ExitCode {
    let options = match parse(args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            let _ = std::io::stdout().write_all(usage.as_bytes());
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(&e, usage),
    };
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => run(options, &runtime),
        Err(e) => fail(&format!("no runtime: {e}"), ""),
    }
}

/// A remote command that could not do its work: the reason, status 2.
fn failed(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {message}");
    ExitCode::from(2)
}

fn dlq(args: &[String], root: &Path) -> ExitCode {
    with_options(
        args,
        toolkit::dlq::USAGE,
        toolkit::dlq::parse_options,
        |options, runtime| match runtime.block_on(toolkit::dlq::run(&options, root)) {
            Ok((text, all_handled)) => {
                let _ = std::io::stdout().write_all(text.as_bytes());
                if all_handled {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => failed(&e),
        },
    )
}

fn token(args: &[String], root: &Path) -> ExitCode {
    use toolkit::auth::{LocalPool, USAGE, Who, parse_lifetime};
    let mut who = None;
    let mut lifetime = None;
    let mut stage = None;
    let mut endpoint = None;
    let mut allow_prod = false;
    let mut flags = args.iter();
    while let Some(flag) = flags.next() {
        match flag.as_str() {
            "--help" | "-h" => {
                let _ = std::io::stdout().write_all(USAGE.as_bytes());
                return ExitCode::SUCCESS;
            }
            "--allow-prod" => allow_prod = true,
            "--staff" if who.is_none() => who = Some(Who::Staff),
            "--customer" if who.is_none() => match flags.next() {
                Some(id) if !id.is_empty() && !id.starts_with("--") => {
                    who = Some(Who::Customer(id.clone()));
                }
                _ => return fail("--customer needs a customer id", USAGE),
            },
            "--expires" => match flags.next().map(|v| parse_lifetime(v)) {
                Some(Ok(chosen)) => lifetime = Some(chosen),
                Some(Err(e)) => return fail(&e, USAGE),
                None => return fail("--expires needs a value", USAGE),
            },
            "--stage" => match flags.next() {
                Some(name) if !name.starts_with("--") => stage = Some(name.clone()),
                _ => return fail("--stage needs a stage name", USAGE),
            },
            "--endpoint-url" => match flags.next().map(|v| toolkit::stage::endpoint(v)) {
                Some(Ok(url)) => endpoint = Some(url),
                Some(Err(e)) => return fail(&e, USAGE),
                None => return fail("--endpoint-url needs a URL", USAGE),
            },
            "--staff" | "--customer" => {
                return fail("give one of --customer ID and --staff", USAGE);
            }
            other => return fail(&format!("unknown option {other}"), USAGE),
        }
    }
    let Some(who) = who else {
        return fail("give --customer ID or --staff", USAGE);
    };
    let minted = match (stage, lifetime) {
        (Some(_), Some(_)) => {
            return fail(
                "--expires is for local tokens; a stage's tokens last as long as its app client says",
                USAGE,
            );
        }
        (None, lifetime) if endpoint.is_none() => {
            let dir = toolkit::local::LocalOptions::new(root).auth_dir;
            LocalPool::open(&dir).and_then(|pool| {
                pool.mint(
                    &who,
                    lifetime.unwrap_or(std::time::Duration::from_secs(3600)),
                )
            })
        }
        (None, _) => return fail("--endpoint-url goes with --stage", USAGE),
        (Some(stage), None) => match toolkit::stage_token::may_make_users_in(&stage, allow_prod)
            .and_then(|()| tokio::runtime::Runtime::new().map_err(|e| e.to_string()))
        {
            Ok(runtime) => runtime.block_on(async {
                let remote = toolkit::stage::Remote::for_stage(root, &stage, endpoint)?;
                let config = remote.sdk_config().await;
                let pool = toolkit::stage_token::StagePool::of(&remote, &config).await?;
                let client = aws_sdk_cognitoidentityprovider::Client::new(&config);
                toolkit::stage_token::stage_token(&client, &pool, &who).await
            }),
            Err(e) => Err(e),
        },
    };
    match minted {
        Ok(token) => {
            let _ = writeln!(std::io::stdout(), "{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn invoke(args: &[String], root: &Path) -> ExitCode {
    use toolkit::invoke::USAGE;
    if args.iter().any(|a| a == "--help" || a == "-h") {
        let _ = std::io::stdout().write_all(USAGE.as_bytes());
        return ExitCode::SUCCESS;
    }
    let Some((function, rest)) = args.split_first().filter(|(f, _)| !f.starts_with("--")) else {
        return fail("invoke needs a FUNCTION", USAGE);
    };
    let mut event = None;
    let mut binary = None;
    let mut store = "embedded".to_owned();
    let mut table = None;
    let mut env: Vec<(String, String)> = Vec::new();
    let mut memory = 128;
    let mut timeout = 10.0_f64;
    let mut runs = 1_u32;
    let mut debug = false;
    let mut debug_port = toolkit::local::DEFAULT_DEBUG_PORT;
    let mut flags = rest.iter();
    while let Some(flag) = flags.next() {
        if flag == "--debug" {
            debug = true;
            continue;
        }
        let Some(value) = flags.next() else {
            return fail(&format!("{flag} needs a value"), USAGE);
        };
        match flag.as_str() {
            "--event" => event = Some(value.clone()),
            "--binary" => binary = Some(PathBuf::from(value)),
            "--dynamodb" => store = value.clone(),
            "--table" => table = Some(value.clone()),
            "--env" => match value.split_once('=') {
                Some((k, v)) if !k.is_empty() => env.push((k.to_owned(), v.to_owned())),
                _ => return fail(&format!("--env takes KEY=VALUE, not {value:?}"), USAGE),
            },
            "--memory" => match value.parse() {
                Ok(mb) => memory = mb,
                Err(_) => {
                    return fail(
                        &format!("--memory takes a number of MB, not {value:?}"),
                        USAGE,
                    );
                }
            },
            "--timeout" => match value.parse::<f64>() {
                Ok(s) if s > 0.0 && s <= 900.0 => timeout = s,
                _ => {
                    return fail(
                        &format!("--timeout takes seconds from 0 to 900, not {value:?}"),
                        USAGE,
                    );
                }
            },
            "--debug-port" => match value.parse() {
                Ok(port @ 1..=65535) => debug_port = port,
                _ => {
                    return fail(
                        &format!("--debug-port takes a port from 1 to 65535, not {value:?}"),
                        USAGE,
                    );
                }
            },
            "--runs" => match value.parse() {
                Ok(n @ 1..=1000) => runs = n,
                _ => {
                    return fail(
                        &format!("--runs takes a number from 1 to 1000, not {value:?}"),
                        USAGE,
                    );
                }
            },
            other => return fail(&format!("unknown option {other}"), USAGE),
        }
    }
    let (Some(event), Some(binary)) = (event, binary) else {
        return fail("--event and --binary are required", USAGE);
    };
    let event_json = match read_event(&event) {
        Ok(json) => json,
        Err(e) => return fail(&e, ""),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("no runtime: {e}"), ""),
    };
    let store = match toolkit::local::Store::parse(&store) {
        Ok(store) => store,
        Err(e) => return fail(&e, USAGE),
    };
    let local_options = toolkit::local::LocalOptions {
        store,
        table,
        ..toolkit::local::LocalOptions::new(root)
    };
    runtime.block_on(async move {
        // The template's tables on the store, then the template's
        // environment for the function (a local value for each secret it
        // names), the store's endpoint, then --env.
        let (endpoint, _guard) = match toolkit::local::prepare_store(&local_options).await {
            Ok(found) => found,
            Err(e) => return fail(&e.to_string(), ""),
        };
        let template_env = match toolkit::local::function_environment(&local_options, function) {
            Ok(found) => found,
            Err(e) => return fail(&e.to_string(), ""),
        };
        let mut all_env: Vec<(String, String)> = template_env.into_iter().collect();
        all_env.push(("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), endpoint));
        for (key, default) in [
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
        ] {
            if std::env::var_os(key).is_none() {
                all_env.push((key.to_owned(), default.to_owned()));
            }
        }
        all_env.extend(env);
        let options = toolkit::invoke::InvokeOptions {
            binary,
            function_name: function.clone(),
            event: event_json,
            env: all_env,
            memory_size_mb: memory,
            timeout: if debug {
                toolkit::runtime::DEBUG_TIMEOUT
            } else {
                std::time::Duration::from_secs_f64(timeout)
            },
            debug_port: debug.then_some(debug_port),
        };
        // Each run is a new process: a cold start every time.
        let mut worst = 0;
        for _ in 0..runs {
            match toolkit::invoke::invoke(options.clone()).await {
                // The function's log, START, END and REPORT went to
                // standard error as it ran.
                Ok((invocation, events_put)) => {
                    for put in &events_put {
                        let _ = writeln!(std::io::stderr(), "event put on the bus: {put}");
                    }
                    let (shown, code) = toolkit::invoke::shown(&invocation);
                    let _ = writeln!(std::io::stdout(), "{shown}");
                    worst = worst.max(code);
                }
                Err(e) => return fail(&e.to_string(), ""),
            }
        }
        ExitCode::from(worst)
    })
}

fn local(args: &[String], root: &Path) -> ExitCode {
    let options = match toolkit::local::parse_options(args, root) {
        Ok(Some(options)) => options,
        Ok(None) => {
            let _ = std::io::stdout().write_all(toolkit::local::USAGE.as_bytes());
            return ExitCode::SUCCESS;
        }
        Err(message) => return fail(&message, toolkit::local::USAGE),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // The server logs each request and event once; the functions'
        // own info lines would repeat them.
        tracing_subscriber::EnvFilter::new(
            "info,adapters_http=warn,adapters_eventbridge=warn,dynoxide=error",
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("no runtime: {e}"), ""),
    };
    let result = if options.watch {
        runtime.block_on(toolkit::watch::run(options, args, shutdown_signal()))
    } else {
        runtime.block_on(toolkit::local::run(options, shutdown_signal()))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C, or SIGTERM (as `kill` and test harnesses send).
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(term) => { term.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
