//! The load driver.
//!
//! Closed loop: `concurrency` workers each issue the next operation as soon as the previous
//! one completes; this finds the maximum throughput. Open loop: operations start on a fixed
//! schedule whatever happens to earlier ones, and each latency is measured from the time the
//! operation was *scheduled*, not from when it happened to start, so a stall shows up in the
//! percentiles instead of silently lowering the offered rate (coordinated omission).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::report::Counts;
use crate::{BenchError, Latency, ProcessUsage, Report};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LoadMode {
    Closed { concurrency: usize },
    Open { rate_per_s: f64 },
}

#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub mode: LoadMode,
    /// Operations during the warm-up are run but not counted (connections, caches, JIT-free
    /// but allocator and page-cache warm-up are real).
    pub warmup: Duration,
    pub duration: Duration,
}

impl LoadSpec {
    fn validate(&self) -> Result<(), BenchError> {
        match self.mode {
            LoadMode::Closed { concurrency: 0 } => {
                return Err(BenchError::Spec("concurrency must be at least 1".into()));
            }
            LoadMode::Open { rate_per_s } if !(rate_per_s > 0.0 && rate_per_s.is_finite()) => {
                return Err(BenchError::Spec(
                    "the rate must be a positive number per second".into(),
                ));
            }
            _ => {}
        }
        if self.duration.is_zero() {
            return Err(BenchError::Spec(
                "the duration must be longer than zero".into(),
            ));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        match self.mode {
            LoadMode::Closed { concurrency } => format!("closed loop, {concurrency} in flight"),
            LoadMode::Open { rate_per_s } => {
                format!("open loop, {rate_per_s:.0} offered per second")
            }
        }
    }
}

struct Tally {
    hist: Mutex<Histogram<u64>>,
    ok: AtomicU64,
    errors: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Tally {
    fn new() -> Result<Tally, BenchError> {
        // 1 µs .. 100 s at 3 significant digits.
        let hist = Histogram::new_with_bounds(1, 100_000_000, 3)
            .map_err(|e| BenchError::Spec(e.to_string()))?;
        Ok(Tally {
            hist: Mutex::new(hist),
            ok: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            samples: Mutex::new(Vec::new()),
        })
    }

    async fn record(&self, latency: Duration, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                let us = (latency.as_micros() as u64).clamp(1, 100_000_000);
                let _ = self.hist.lock().await.record(us);
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let mut s = self.samples.lock().await;
                if s.len() < 5 {
                    s.push(e);
                }
            }
        }
    }
}

/// Runs `op` under `spec` and reports. `op(i)` gets a unique sequence number.
pub async fn drive<F, Fut>(name: &str, spec: &LoadSpec, op: F) -> Result<Report, BenchError>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    spec.validate()?;
    let op = Arc::new(op);
    let seq = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + spec.warmup;
    let end = measure_from + spec.duration;
    let tally = Arc::new(Tally::new()?);
    let usage_before = Arc::new(Mutex::new(None::<ProcessUsage>));

    // Takes the usage snapshot at the start of the measured window.
    let snap = {
        let usage_before = usage_before.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from).await;
            *usage_before.lock().await = Some(ProcessUsage::now());
        })
    };

    match spec.mode {
        LoadMode::Closed { concurrency } => {
            let mut workers = Vec::with_capacity(concurrency);
            for _ in 0..concurrency {
                let (op, seq, tally) = (op.clone(), seq.clone(), tally.clone());
                workers.push(tokio::spawn(async move {
                    loop {
                        let t0 = Instant::now();
                        if t0 >= end {
                            break;
                        }
                        let r = op(seq.fetch_add(1, Ordering::Relaxed)).await;
                        if t0 >= measure_from {
                            tally.record(t0.elapsed(), r).await;
                        }
                    }
                }));
            }
            for w in workers {
                let _ = w.await;
            }
        }
        LoadMode::Open { rate_per_s } => {
            let interval = Duration::from_secs_f64(1.0 / rate_per_s);
            let mut inflight = Vec::new();
            let mut n: u64 = 0;
            loop {
                let scheduled = start + interval.mul_f64(n as f64);
                if scheduled >= end {
                    break;
                }
                tokio::time::sleep_until(scheduled).await;
                let (op, seq, tally) = (op.clone(), seq.clone(), tally.clone());
                inflight.push(tokio::spawn(async move {
                    let r = op(seq.fetch_add(1, Ordering::Relaxed)).await;
                    if scheduled >= measure_from {
                        tally.record(scheduled.elapsed(), r).await;
                    }
                }));
                n += 1;
                if inflight.len() >= 4096 {
                    inflight.retain(|h| !h.is_finished());
                }
            }
            for h in inflight {
                let _ = h.await;
            }
        }
    }
    let _ = snap.await;
    // Operations started before `end` are counted when they complete, so the window ends
    // when the last of them did.
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    let before = usage_before.lock().await.unwrap_or_default();
    let usage = ProcessUsage::now().since(&before);
    let latency = Latency::from_histogram(&*tally.hist.lock().await);
    let counts = Counts {
        ok: tally.ok.load(Ordering::Relaxed),
        errors: tally.errors.load(Ordering::Relaxed),
        error_samples: tally.samples.lock().await.clone(),
        elapsed,
        latency,
    };
    Ok(Report::new(name, spec.describe(), counts, usage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_loop_counts_and_measures() {
        let spec = LoadSpec {
            mode: LoadMode::Closed { concurrency: 4 },
            warmup: Duration::from_millis(20),
            duration: Duration::from_millis(200),
        };
        let r = drive("sleep", &spec, |i| async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            if i % 10 == 0 {
                Err(format!("op {i} failed"))
            } else {
                Ok(())
            }
        })
        .await
        .unwrap();
        assert!(r.ok > 50, "{r}");
        assert!(r.errors > 0 && !r.error_samples.is_empty());
        assert!(r.latency.p50_us >= 2000, "{r}");
        // 4 workers × 2 ms per op: at most ~2,000/s.
        assert!(r.throughput_per_s < 2500.0, "{r}");
    }

    #[tokio::test]
    async fn open_loop_charges_stalls_to_latency() {
        // One op stalls for 100 ms at 200/s: ops scheduled behind it are not delayed (they
        // run concurrently), but the stalled one must appear in the tail.
        let spec = LoadSpec {
            mode: LoadMode::Open { rate_per_s: 200.0 },
            warmup: Duration::ZERO,
            duration: Duration::from_millis(300),
        };
        let r = drive("stall", &spec, |i| async move {
            let d = if i == 5 { 100 } else { 1 };
            tokio::time::sleep(Duration::from_millis(d)).await;
            Ok(())
        })
        .await
        .unwrap();
        assert!((50..=61).contains(&r.ok), "{r}");
        assert!(r.latency.max_us >= 100_000, "{r}");
        assert!(r.latency.p50_us < 20_000, "{r}");
    }

    #[tokio::test]
    async fn bad_specs_are_refused() {
        let spec = LoadSpec {
            mode: LoadMode::Closed { concurrency: 0 },
            warmup: Duration::ZERO,
            duration: Duration::from_secs(1),
        };
        assert!(drive("x", &spec, |_| async { Ok(()) }).await.is_err());
    }
}
