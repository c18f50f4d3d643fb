//! Cold starts: each function's release bootstrap, a new process per run,
//! under the toolkit's Runtime API emulator; Lambda's REPORT lines read.

use super::*;

/// `REPORT` lines as (init ms, duration ms, max memory MB).
pub(super) fn parse_reports(text: &str) -> Vec<(f64, f64, f64)> {
    let number_after = |line: &str, label: &str| -> Option<f64> {
        let rest = &line[line.find(label)? + label.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    text.lines()
        .filter(|line| line.starts_with("REPORT "))
        .filter_map(|line| {
            Some((
                number_after(line, "Init Duration: ")?,
                number_after(line, "\tDuration: ")?,
                number_after(line, "Max Memory Used: ")?,
            ))
        })
        .collect()
}

pub(super) fn cold_starts(report: &mut Report, bootstraps: &[(Function, PathBuf)]) -> Result {
    crate::server::build_toolkit()?;
    let toolkit = server::target_dir().join("debug/orders-toolkit");
    let root = cmd::project_root();
    let mut rows = Vec::new();
    let variants: Vec<(&Function, &PathBuf, bool)> = bootstraps
        .iter()
        .flat_map(|(function, bootstrap)| {
            let mut runs = vec![(function, bootstrap, true)];
            if function.serves_the_api() {
                runs.push((function, bootstrap, false));
            }
            runs
        })
        .collect();
    for (spec, bootstrap, warm_up) in variants {
        let function = &spec.binary;
        let label = if warm_up {
            function.clone()
        } else {
            format!("{function} (ORDERS_WARM_UP=off)")
        };
        // The sample event of what invokes the function.
        let event = if spec.serves_the_api() {
            "events/apigw/rest-create-order.json"
        } else if spec.is_a_rule_target() {
            "events/eventbridge/order-placed.json"
        } else {
            "events/eventbridge/scheduled.json"
        };
        let runs = (RUNS + 1).to_string();
        let binary = bootstrap.to_string_lossy();
        let mut args = vec![
            "invoke",
            function.as_str(),
            "--binary",
            &binary,
            "--event",
            event,
            "--runs",
            &runs,
            "--table",
            "bench-orders",
        ];
        if !warm_up {
            args.extend(["--env", "ORDERS_WARM_UP=off"]);
        }
        eprintln!("$ {} {}", toolkit.display(), args.join(" "));
        let output = Command::new(&toolkit)
            .args(args)
            .current_dir(&root)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Failed::new(format!("{}: {e}", toolkit.display())))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(Failed::new(format!(
                "cold runs of {function} failed:\n{}",
                stderr.lines().rev().take(20).collect::<Vec<_>>().join("\n")
            )));
        }
        let reports = parse_reports(&stderr);
        if reports.len() != RUNS + 1 {
            return Err(Failed::new(format!(
                "expected {} REPORT lines from {function}, found {}",
                RUNS + 1,
                reports.len()
            )));
        }
        let measured = &reports[1..];
        let column = |i: usize| -> Vec<f64> {
            measured
                .iter()
                .map(|r| match i {
                    0 => r.0,
                    1 => r.1,
                    _ => r.2,
                })
                .collect()
        };
        let (init, first, memory) = (column(0), column(1), column(2));
        let stats = |v: &[f64]| Stats::of(v).ok_or_else(|| Failed::new("no runs"));
        let init_stats = stats(&init)?;
        let memory_stats = stats(&memory)?;
        if spec.serves_the_api() && warm_up {
            report.goal(
                format!("{function} Init Duration median <= 20 ms (DynamoDB and EventBridge clients built)"),
                format!("{} ms", fmt(init_stats.median)),
                init_stats.median <= 20.0,
            );
            report.goal(
                format!("{function} Max Memory Used <= 24 MB"),
                format!(
                    "{} MB (max of {} runs)",
                    fmt(memory_stats.max),
                    memory_stats.n
                ),
                memory_stats.max <= 24.0,
            );
        }
        rows.push(Row {
            what: format!("{label} Init Duration"),
            unit: "ms",
            stats: init_stats,
        });
        rows.push(Row {
            what: format!("{label} first-invoke Duration"),
            unit: "ms",
            stats: stats(&first)?,
        });
        rows.push(Row {
            what: format!("{label} Max Memory Used"),
            unit: "MB",
            stats: memory_stats,
        });
    }
    report.table(
        "Cold start",
        &format!(
            "Each function's release `bootstrap` (from the zip above) started {} times, \
             each a new process, under the toolkit's Runtime API emulator (`cargo xtask invoke \
             … --runs`), against DynamoDB Local over http on 127.0.0.1; the first run warms \
             DynamoDB Local's JVM and is left out. Init Duration is process start to the first \
             `next`; the SDK clients (with their credentials, region and endpoint) are built \
             during init, and init opens their connections (a `GetItem` of a key no item has, \
             and a `PutEvents` with no entries, which EventBridge refuses and which publishes \
             nothing), so the first request pays no connect and, on AWS, no TLS handshake; the \
             `ORDERS_WARM_UP=off` rows show the API's function without that. Against DynamoDB Local there is \
             no TLS, so here it saves a TCP connect only. Events: `events/apigw/rest-create-order.json` for the \
             function on the API routes (it places an order) and `events/eventbridge/order-placed.json` for the \
             rule's target (it looks the order up). \
             Max Memory Used is the process's peak resident set (`VmHWM`).",
            RUNS + 1
        ),
        &rows,
    );
    Ok(())
}
