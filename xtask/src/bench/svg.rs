//! The chart of the local API's latency distributions
//! (`benchmarks/local-api-latency.svg`).

use super::*;

/// The local API's latency curves side by side: x the latency (ms, log
/// scale), y the percentile.
pub(super) fn svg(loads: &[Load]) -> String {
    let (width, height) = (900.0, 420.0);
    let (left, right, top, bottom) = (70.0, 330.0, 30.0, 50.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let all_ms: Vec<f64> = loads
        .iter()
        .flat_map(|l| l.curve.iter().map(|(_, ms)| *ms))
        .filter(|ms| *ms > 0.0)
        .collect();
    let lo = all_ms
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(0.001);
    let hi = all_ms.iter().copied().fold(0.0, f64::max).max(lo * 10.0);
    let (log_lo, log_hi) = (lo.log10().floor(), hi.log10().ceil());
    let x = |ms: f64| left + (ms.max(1e-6).log10() - log_lo) / (log_hi - log_lo) * plot_w;
    let y = |p: f64| top + plot_h - p / 100.0 * plot_h;
    let colours = ["#1b7837", "#2166ac", "#b2182b", "#762a83"];
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"18\" font-size=\"14\">Local API latency, GET /orders/{{id}} (percentile by latency, log scale)</text>\n"
    );
    let mut decade = log_lo;
    while decade <= log_hi {
        let ms = 10f64.powf(decade);
        let gx = x(ms);
        let _ = writeln!(
            out,
            "<line x1=\"{gx:.1}\" y1=\"{top}\" x2=\"{gx:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{gx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} ms</text>",
            top + plot_h,
            top + plot_h + 18.0,
            if ms < 1.0 {
                format!("{ms}")
            } else {
                format!("{ms:.0}")
            }
        );
        decade += 1.0;
    }
    for p in [0.0, 25.0, 50.0, 75.0, 90.0, 99.0] {
        let gy = y(p);
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{gy:.1}\" x2=\"{:.1}\" y2=\"{gy:.1}\" stroke=\"#eee\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">p{p}</text>",
            left + plot_w,
            left - 6.0,
            gy + 4.0
        );
    }
    let _ = writeln!(
        out,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#333\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">latency per request</text>",
        left + plot_w / 2.0,
        height - 10.0
    );
    for (i, load) in loads.iter().enumerate() {
        let colour = colours[i % colours.len()];
        let points: Vec<String> = load
            .curve
            .iter()
            .map(|(p, ms)| format!("{:.1},{:.1}", x(*ms), y(*p)))
            .collect();
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        let ly = top + 20.0 + i as f64 * 44.0;
        let lx = left + plot_w + 14.0;
        let _ = writeln!(
            out,
            "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{:.1}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"3\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\">{:.0} req/s, p50 {} ms, p99 {} ms</text>",
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
            escape(&load.name),
            lx + 24.0,
            ly + 20.0,
            load.rps,
            fmt(load.p50),
            fmt(load.p99)
        );
    }
    out.push_str("</svg>\n");
    out
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
