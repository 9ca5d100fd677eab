use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::ProcessUsage;

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Latency {
    pub(crate) fn from_histogram(h: &hdrhistogram::Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// What the driver counted in the measured window.
pub(crate) struct Counts {
    pub ok: u64,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub elapsed: Duration,
    pub latency: Latency,
}

/// What one measured run produced. Printed as a table, or as JSON with `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub name: String,
    /// "closed(concurrency=N)" or "open(rate=R/s)".
    pub mode: String,
    pub ok: u64,
    pub errors: u64,
    /// First error messages seen (at most 5), so a failing run says why.
    pub error_samples: Vec<String>,
    pub elapsed_s: f64,
    pub throughput_per_s: f64,
    pub latency: Latency,
    pub cpu_user_s: f64,
    pub cpu_system_s: f64,
    /// CPU seconds per operation, all threads of the process.
    pub cpu_us_per_op: f64,
    pub peak_rss_mb: f64,
    /// Extra figures a particular bench adds (e.g. records, bytes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<(String, String)>,
}

impl Report {
    pub(crate) fn new(name: &str, mode: String, counts: Counts, usage: ProcessUsage) -> Report {
        let Counts {
            ok,
            errors,
            error_samples,
            elapsed,
            latency,
        } = counts;
        let secs = elapsed.as_secs_f64().max(1e-9);
        Report {
            name: name.to_owned(),
            mode,
            ok,
            errors,
            error_samples,
            elapsed_s: secs,
            throughput_per_s: ok as f64 / secs,
            latency,
            cpu_user_s: usage.user.as_secs_f64(),
            cpu_system_s: usage.system.as_secs_f64(),
            cpu_us_per_op: if ok == 0 {
                0.0
            } else {
                usage.cpu().as_secs_f64() * 1e6 / ok as f64
            },
            peak_rss_mb: usage.peak_rss_bytes as f64 / (1024.0 * 1024.0),
            extra: Vec::new(),
        }
    }

    /// A report for work measured as one batch (imports): `count` items in `elapsed`.
    pub fn batch(
        name: &str,
        count: u64,
        errors: u64,
        elapsed: Duration,
        usage: ProcessUsage,
    ) -> Report {
        let counts = Counts {
            ok: count,
            errors,
            error_samples: Vec::new(),
            elapsed,
            latency: Latency::default(),
        };
        Report::new(name, "batch".into(), counts, usage)
    }

    pub fn with_extra(mut self, key: &str, value: impl ToString) -> Report {
        self.extra.push((key.to_owned(), value.to_string()));
        self
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} — {}", self.name, self.mode)?;
        writeln!(
            f,
            "  completed   {} ok, {} errors in {:.2} s → {:.0} /s",
            self.ok, self.errors, self.elapsed_s, self.throughput_per_s
        )?;
        if self.latency != Latency::default() {
            let l = &self.latency;
            writeln!(
                f,
                "  latency     p50 {} µs · p90 {} µs · p99 {} µs · p99.9 {} µs · max {} µs",
                l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us
            )?;
        }
        writeln!(
            f,
            "  cpu         {:.2} s user + {:.2} s system = {:.0} µs per operation (all threads)",
            self.cpu_user_s, self.cpu_system_s, self.cpu_us_per_op
        )?;
        writeln!(f, "  peak RSS    {:.0} MiB", self.peak_rss_mb)?;
        for (k, v) in &self.extra {
            writeln!(f, "  {k:<11} {v}")?;
        }
        for e in &self.error_samples {
            writeln!(f, "  error       {e}")?;
        }
        Ok(())
    }
}
