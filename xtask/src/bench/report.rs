//! The report: figures with their statistics, the goals table, the
//! machine they were measured on, and the Markdown of `BENCHMARKS.md`.

use super::*;

/// min / median / p99 / max of a sample.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stats {
    pub(super) min: f64,
    pub(super) median: f64,
    pub(super) p99: f64,
    pub(super) max: f64,
    pub(super) n: usize,
}

impl Stats {
    pub(super) fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |p: f64| {
            sorted[((p * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
        };
        Some(Self {
            min: sorted[0],
            median: at(0.5),
            p99: at(0.99),
            max: sorted[sorted.len() - 1],
            n: sorted.len(),
        })
    }
}

/// One row of a figure table.
pub(super) struct Row {
    pub(super) what: String,
    pub(super) unit: &'static str,
    pub(super) stats: Stats,
}

/// One line of the goals table.
pub(super) struct Goal {
    pub(super) goal: String,
    pub(super) measured: String,
    pub(super) met: bool,
}

#[derive(Default)]
pub(super) struct Report {
    pub(super) sections: Vec<(String, String)>,
    pub(super) goals: Vec<Goal>,
}

impl Report {
    pub(super) fn table(&mut self, title: &str, note: &str, rows: &[Row]) {
        let mut text = format!(
            "{note}\n\n| what | unit | min | median | p99 | max | runs |\n|---|---|---:|---:|---:|---:|---:|\n"
        );
        for row in rows {
            let s = row.stats;
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} | {} | {} | {} |",
                row.what,
                row.unit,
                fmt(s.min),
                fmt(s.median),
                fmt(s.p99),
                fmt(s.max),
                s.n
            );
        }
        self.sections.push((title.to_owned(), text));
    }

    pub(super) fn text(&mut self, title: &str, text: String) {
        self.sections.push((title.to_owned(), text));
    }

    pub(super) fn goal(&mut self, goal: impl Into<String>, measured: String, met: bool) {
        self.goals.push(Goal {
            goal: goal.into(),
            measured,
            met,
        });
    }
}

pub(super) fn fmt(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

pub(super) fn machine() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_gib = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let os = read("/etc/os-release")
        .lines()
        .find(|l| l.starts_with("PRETTY_NAME="))
        .map(|l| {
            l.trim_start_matches("PRETTY_NAME=")
                .trim_matches('"')
                .to_owned()
        })
        .unwrap_or_else(|| "unknown OS".to_owned());
    let rustc = Command::new("rustc")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {memory_gib:.0} GiB, {os}, {rustc}")
}

pub(super) fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

pub(super) fn markdown(report: &Report, took: Duration) -> String {
    let mut out = format!(
        "# Benchmarks\n\nWritten by `cargo xtask bench` on {}. Machine: {}. The whole run took {:.0} s.\n\n\
         ## Goals\n\n| goal | measured | met |\n|---|---|---|\n",
        today(),
        machine(),
        took.as_secs_f64()
    );
    for goal in &report.goals {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            goal.goal,
            goal.measured,
            if goal.met { "yes" } else { "**no**" }
        );
    }
    for (title, text) in &report.sections {
        let _ = write!(out, "\n## {title}\n\n{text}");
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}
