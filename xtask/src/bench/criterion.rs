//! Warm handler cost: the criterion benches of `adapters-http` and
//! `event-pattern`, read from criterion's own output.

use super::*;

/// The per-iteration times of a criterion benchmark's samples, in ns.
pub(super) fn criterion_samples(target: &Path, id: &str) -> Result<Vec<f64>> {
    let path = target.join("criterion").join(id).join("new/sample.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failed::new(format!("{}: {e}", path.display())))?;
    let array = |key: &str| -> Vec<f64> {
        text.find(&format!("\"{key}\":["))
            .map(|at| {
                let rest = &text[at + key.len() + 4..];
                rest[..rest.find(']').unwrap_or(0)]
                    .split(',')
                    .filter_map(|n| n.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (iters, times) = (array("iters"), array("times"));
    if iters.is_empty() || iters.len() != times.len() {
        return Err(Failed::new(format!("{}: no samples", path.display())));
    }
    Ok(iters.iter().zip(&times).map(|(i, t)| t / i).collect())
}

pub(super) fn criterion(report: &mut Report, target: &Path) -> Result {
    cmd::run(
        &cmd::cargo(),
        [
            "bench",
            "--package",
            "adapters-http",
            "--bench",
            "handler",
            "--package",
            "event-pattern",
            "--bench",
            "matcher",
        ],
    )?;
    let mut rows = Vec::new();
    for (id, what, unit, scale) in [
        (
            "place-order",
            "place-order (POST /orders event → 201)",
            "µs",
            1e-3,
        ),
        (
            "get-order",
            "get-order (GET /orders/{id} event → 200)",
            "µs",
            1e-3,
        ),
        (
            "pattern-order-placed-rule",
            "pattern: OrderPlacedRule on OrderPlaced",
            "ns",
            1.0,
        ),
        (
            "pattern-every-operator",
            "pattern: every operator, matching",
            "ns",
            1.0,
        ),
        (
            "pattern-mismatch-named",
            "pattern: mismatch, field named",
            "ns",
            1.0,
        ),
    ] {
        let samples: Vec<f64> = criterion_samples(target, id)?
            .iter()
            .map(|ns| ns * scale)
            .collect();
        let stats = Stats::of(&samples).ok_or_else(|| Failed::new("no samples"))?;
        if id == "place-order" {
            report.goal(
                "warm place-order through adapters-http + domain + memory: median <= 20 µs",
                format!("{} µs", fmt(stats.median)),
                stats.median <= 20.0,
            );
        }
        rows.push(Row {
            what: what.to_owned(),
            unit,
            stats,
        });
    }
    report.table(
        "Warm handler cost",
        "criterion (`cargo bench -p adapters-http --bench handler`, `-p event-pattern --bench \
         matcher`), release profile. Each run is one criterion sample (many iterations); the \
         figures are the mean time per iteration of each sample. The handler benches take an \
         API Gateway REST event through `adapters_http::Api`, the domain and the in-memory \
         adapters, as the warm API function does after the Runtime API hands it the event.",
        &rows,
    );
    Ok(())
}
