//! What `renkei bench` and `renkei vaccination bench` measure: servers started in this
//! process (from `renkei-testkit`, the cluster the tests and the demo run), the population
//! enrolled, and one operation of each load. The CLI turns its flags into the options here
//! and prints what comes back; nothing in this module writes to standard output.

pub mod exchange;
pub mod ledger;
pub mod vaccination;

/// Where a workload says what it is doing while it runs (setup steps, one line per run):
/// the CLI sends these lines to standard error, or to standard output for the vaccination
/// bench, whose report they are.
pub type Say<'a> = &'a (dyn Fn(&str) + Sync);

/// Median of a sample (the mean of the middle two for an even count; 0 when empty).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_even_and_empty_samples() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }
}
