use std::time::Duration;

/// CPU time and peak resident set of this process. The servers a bench starts run in this
/// process, so this is the whole system's cost: client, gateways and hub together.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessUsage {
    pub user: Duration,
    pub system: Duration,
    /// Peak RSS over the process's life so far, in bytes.
    pub peak_rss_bytes: u64,
}

impl ProcessUsage {
    /// Zero where there is no getrusage (non-unix platforms).
    #[cfg(not(unix))]
    pub fn now() -> ProcessUsage {
        ProcessUsage::default()
    }

    #[cfg(unix)]
    pub fn now() -> ProcessUsage {
        use nix::sys::resource::{UsageWho, getrusage};
        match getrusage(UsageWho::RUSAGE_SELF) {
            Ok(u) => {
                let tv = |t: nix::sys::time::TimeVal| {
                    Duration::from_secs(t.tv_sec().max(0) as u64)
                        + Duration::from_micros(t.tv_usec().max(0) as u64)
                };
                ProcessUsage {
                    user: tv(u.user_time()),
                    system: tv(u.system_time()),
                    // Linux reports ru_maxrss in KiB.
                    peak_rss_bytes: (u.max_rss().max(0) as u64) * 1024,
                }
            }
            Err(_) => ProcessUsage::default(),
        }
    }

    /// CPU spent between `earlier` and `self`; the peak RSS is `self`'s.
    pub fn since(&self, earlier: &ProcessUsage) -> ProcessUsage {
        ProcessUsage {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
            peak_rss_bytes: self.peak_rss_bytes,
        }
    }

    pub fn cpu(&self) -> Duration {
        self.user + self.system
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn cpu_time_grows_with_work() {
        let a = ProcessUsage::now();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let d = ProcessUsage::now().since(&a);
        assert!(d.cpu() >= Duration::from_millis(20), "{d:?}");
        assert!(d.peak_rss_bytes > 1024 * 1024);
    }
}
