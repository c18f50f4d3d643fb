//! Times of the test stages and the local cloud's start: each command run
//! once to build, then timed; what the test runners said of themselves.

use super::*;

/// Starts of the local cloud measured per store.
pub(super) const STARTS: usize = 5;

/// From `orders-toolkit local --binaries --dynamodb STORE` (this project,
/// every function of its template as its binary, already built) to the
/// first answer on its API port, `STARTS` times per store.
pub(super) fn start_times(report: &mut Report) -> Result {
    let mut build = vec![
        "build".to_owned(),
        "--workspace".to_owned(),
        "--bin".to_owned(),
        "orders-toolkit".to_owned(),
    ];
    for function in template_functions()? {
        build.extend(["--bin".to_owned(), function.binary]);
    }
    cmd::run(&cmd::cargo(), &build)?;
    let binary = server::target_dir().join("debug/orders-toolkit");
    let mut rows = Vec::new();
    for (store, what) in [
        ("memory", "embedded DynamoDB (in memory)"),
        ("embedded", "embedded DynamoDB (its file)"),
        ("local", "DynamoDB Local (started by the tool)"),
    ] {
        let mut took = Vec::new();
        for _ in 0..STARTS {
            let port = free_port()?;
            let started = Instant::now();
            let mut child = Command::new(&binary)
                .args(["local", "--binaries", "--no-build", "--lambda-port", "0"])
                .args(["--dynamodb", store, "--port", &port.to_string()])
                .current_dir(cmd::project_root())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| Failed::new(format!("{}: {e}", binary.display())))?;
            let answered = loop {
                if let Ok(Some(status)) = child.try_wait() {
                    break Err(Failed::new(format!(
                        "local --dynamodb {store} exited ({status}) before it answered"
                    )));
                }
                if started.elapsed() > Duration::from_secs(120) {
                    break Err(Failed::new(format!(
                        "local --dynamodb {store} did not answer within 120 s"
                    )));
                }
                if exchange(
                    &format!("127.0.0.1:{port}"),
                    "GET / HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n",
                )
                .is_ok()
                {
                    break Ok(started.elapsed());
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            let pid = child.id().to_string();
            server::terminate(&mut child, &pid, Duration::from_secs(10));
            took.push(answered?.as_secs_f64() * 1000.0);
        }
        if let Some(stats) = Stats::of(&took) {
            rows.push(Row {
                what: format!("`local --binaries --dynamodb {store}`: {what}"),
                unit: "ms",
                stats,
            });
        }
    }
    report.table(
        "Local cloud start",
        "From starting `orders-toolkit local --binaries` on this project (fn-api and fn-events \
         as their binaries, built beforehand; the template's table made, moto started for its \
         queues) to its first answer on the API port, each start a new process.",
        &rows,
    );
    Ok(())
}

/// A port free now.
pub(super) fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Failed::new(format!("no free port: {e}")))
}

/// The repository contract suite (`adapters-dynamo`'s `it`) on the
/// embedded DynamoDB (one per test process, its start included) and on one
/// DynamoDB Local shared by the suite, as `test-conformance` runs it (its
/// start timed apart), after a first run that builds.
pub(super) fn contract_suites(report: &mut Report) -> Result {
    let cargo = cmd::cargo();
    // --workspace, as the test stages build, so nothing is compiled again.
    let args = [
        "nextest",
        "run",
        "--workspace",
        "-E",
        "binary_id(adapters-dynamo::it)",
    ];
    cmd::run_with_env(&cargo, args, &[("DYNAMODB_LOCAL_PROVIDER", "embedded")])?;
    crate::server::build_toolkit()?;
    let starting = Instant::now();
    let services = crate::services::Services::start(&[])?;
    let local_start = starting.elapsed().as_secs_f64();
    let endpoint = services
        .endpoint("DYNAMODB_ENDPOINT")
        .map(str::to_owned)
        .ok_or_else(|| Failed::new("the services named no DynamoDB endpoint"))?;
    let mut text = format!(
        "`cargo nextest run --workspace -E 'binary_id(adapters-dynamo::it)'` (the repository contract suite and \
         the adapter's own tests), wall time after a first run that builds: on the embedded \
         DynamoDB (each test process starts its own, included), and on one DynamoDB Local \
         shared by the suite, as `test-conformance` runs it (started in {local_start:.1} s with \
         moto, not included).\n\n| DynamoDB | wall s | runner's own figure |\n|---|---:|---|\n",
    );
    for (what, provider, endpoint) in [
        ("embedded (dynoxide)", "embedded", None),
        ("DynamoDB Local", "java", Some(endpoint.as_str())),
    ] {
        eprintln!(
            "$ DYNAMODB_LOCAL_PROVIDER={provider} cargo {}",
            args.join(" ")
        );
        let mut command = Command::new(&cargo);
        command
            .args(args)
            .env("DYNAMODB_LOCAL_PROVIDER", provider)
            .env_remove("DYNAMODB_ENDPOINT");
        if let Some(endpoint) = endpoint {
            command.env("DYNAMODB_ENDPOINT", endpoint);
        }
        let (wall, all) = timed(command, &format!("the contract suite on {what}"))?;
        let _ = writeln!(text, "| {what} | {wall:.1} | {} |", runner_figures(&all));
    }
    report.text("Repository contract suite per DynamoDB", text);
    Ok(())
}

/// Runs `cargo xtask task` and returns its wall time and output.
pub(super) fn run_stage(task: &str) -> Result<(f64, String)> {
    let exe = std::env::current_exe().map_err(|e| Failed::new(e.to_string()))?;
    eprintln!("$ cargo xtask {task}");
    let mut command = Command::new(&exe);
    command.arg(task);
    timed(command, &format!("cargo xtask {task}"))
}

/// Runs `command` in the project root with no input; its wall time and
/// its output (standard output, then error), or `what` failed with the
/// output's tail.
pub(super) fn timed(mut command: Command, what: &str) -> Result<(f64, String)> {
    // Without what `cargo run` set for xtask, as every cargo started from
    // here runs: a build script that watches one of them would otherwise
    // rebuild inside the timed run.
    cmd::clean_cargo_env(&mut command);
    let started = Instant::now();
    let output = command
        .current_dir(cmd::project_root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Failed::new(format!("{what}: {e}")))?;
    let wall = started.elapsed().as_secs_f64();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        return Err(Failed::new(format!("{what} failed:\n{}", tail(&all, 30))));
    }
    Ok((wall, all))
}

pub(super) fn suites(report: &mut Report) -> Result {
    let mut text = String::from(
        "Wall time of each stage's command after the build: each stage runs once to build \
         what it needs (every stage builds with `--workspace`, on one dependency build), then \
         once timed; the stage's own run figure leaves out cargo's check that the build is \
         fresh. The embedded DynamoDB's and moto's start are included where a stage needs \
         them.\n\n\
         | stage | command | wall s | stage's run s | runner's own figure |\n|---|---|---:|---:|---|\n",
    );
    for (stage, task) in [
        ("unit", "test-unit"),
        ("integration", "test-integration"),
        ("e2e", "test-e2e"),
    ] {
        run_stage(task)?;
        let (wall, all) = run_stage(task)?;
        let own = runner_figures(&all);
        let run = stage_run(&all);
        let _ = writeln!(
            text,
            "| {stage} | `cargo xtask {task}` | {wall:.1} | {} | {own} |",
            run.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}"))
        );
        match stage {
            "unit" => {
                let nextest = all
                    .split("Summary [")
                    .nth(1)
                    .and_then(|r| r.split('s').next())
                    .and_then(|s| s.trim().parse::<f64>().ok());
                let (shown, met) = match nextest {
                    Some(s) => (
                        format!(
                            "{s:.2} s in nextest ({wall:.1} s for the whole command, doc tests included)"
                        ),
                        s <= 2.0,
                    ),
                    None => (format!("{wall:.1} s"), wall <= 2.0),
                };
                report.goal("unit suite <= 2 s after the build", shown, met);
            }
            "integration" => {
                let run = run.unwrap_or(wall);
                report.goal(
                    "integration stage <= 10 s after the build",
                    format!(
                        "{run:.1} s, the stage's run (embedded DynamoDB and moto started; \
                         {wall:.1} s for the whole command)"
                    ),
                    run <= 10.0,
                );
            }
            _ => {}
        }
    }
    report.text("Test suites", text);
    Ok(())
}

/// A stage's own run figure, from its `==> STAGE: build B s, run R s` line.
pub(super) fn stage_run(output: &str) -> Option<f64> {
    output
        .lines()
        .filter(|line| line.starts_with("==> "))
        .find_map(|line| line.split(", run ").nth(1))
        .and_then(|rest| rest.trim_end_matches(" s").trim().parse().ok())
}

/// What the test runners said: nextest's summary, and each `cargo test`
/// binary that ran tests ("23 passed in 5.44 s").
pub(super) fn runner_figures(output: &str) -> String {
    let mut figures = Vec::new();
    for line in output.lines().map(str::trim) {
        if let Some(summary) = line.strip_prefix("Summary [") {
            figures.push(format!(
                "nextest: {}",
                summary
                    .replace("]", "")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        } else if let Some(result) = line.strip_prefix("test result: ok. ") {
            let passed = result.split_whitespace().next().unwrap_or("0");
            let took = result.rsplit("finished in ").next().unwrap_or("");
            if passed != "0" {
                figures.push(format!("{passed} passed in {took}"));
            }
        }
    }
    figures.join("; ")
}

pub(super) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
