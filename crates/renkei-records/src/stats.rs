//! Statistics of a record log (システム管理: 統計): exchanges per day (JST), procedure,
//! direction and outcome. Computed from the records themselves, so the figures agree with
//! what an auditor can verify.

use std::collections::BTreeMap;

use prost::Message as _;
use renkei_proto::v1::{Direction, ExchangeRecord, Outcome};

/// One row: how many records of this kind were written on this day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatKey {
    /// `YYYY-MM-DD` in JST.
    pub day: String,
    pub procedure: String,
    /// `inquiry`, `provision`, `relay` or `system`.
    pub direction: &'static str,
    /// `provided`, `no_data`, `refused`, `held`, `pending`, …
    pub outcome: &'static str,
}

fn direction_name(d: i32) -> &'static str {
    match Direction::try_from(d).unwrap_or(Direction::Unspecified) {
        Direction::Inquiry => "inquiry",
        Direction::Provision => "provision",
        Direction::Relay => "relay",
        Direction::System => "system",
        Direction::Unspecified => "unspecified",
    }
}

fn outcome_name(o: i32) -> &'static str {
    match Outcome::try_from(o).unwrap_or(Outcome::Unspecified) {
        Outcome::Provided => "provided",
        Outcome::NoData => "no_data",
        Outcome::Refused => "refused",
        Outcome::Held => "held",
        Outcome::NotProvided => "not_provided",
        Outcome::Expired => "expired",
        Outcome::Failed => "failed",
        Outcome::Relayed => "relayed",
        Outcome::Purged => "purged",
        Outcome::Pending => "pending",
        Outcome::Unspecified => "unspecified",
    }
}

/// Counts per [`StatKey`], for records recorded in `[since_ms, until_ms)`.
#[derive(Debug, Clone, Default)]
pub struct Statistics {
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    pub rows: BTreeMap<StatKey, u64>,
    /// Entries that do not decode as records (counted, never guessed at).
    pub undecodable: u64,
}

impl Statistics {
    pub fn new(since_ms: Option<i64>, until_ms: Option<i64>) -> Statistics {
        Statistics {
            since_ms,
            until_ms,
            ..Statistics::default()
        }
    }

    /// Adds one encoded record.
    pub fn add_entry(&mut self, entry: &[u8]) {
        match ExchangeRecord::decode(entry) {
            Ok(r) => self.add(&r),
            Err(_) => self.undecodable += 1,
        }
    }

    pub fn add(&mut self, r: &ExchangeRecord) {
        if self.since_ms.is_some_and(|s| r.recorded_at_ms < s)
            || self.until_ms.is_some_and(|u| r.recorded_at_ms >= u)
        {
            return;
        }
        let stamp = renkei_core::format_ms(r.recorded_at_ms);
        let key = StatKey {
            day: stamp.get(..10).unwrap_or(&stamp).to_owned(),
            procedure: r.procedure.clone(),
            direction: direction_name(r.direction),
            outcome: outcome_name(r.outcome),
        };
        *self.rows.entry(key).or_default() += 1;
    }

    /// RFC 4180 CSV with a header line.
    pub fn to_csv(&self) -> String {
        fn field(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        }
        let mut out = String::from("day,procedure,direction,outcome,count\n");
        for (k, n) in &self.rows {
            out.push_str(&format!(
                "{},{},{},{},{n}\n",
                field(&k.day),
                field(&k.procedure),
                k.direction,
                k.outcome
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: i64, procedure: &str, d: Direction, o: Outcome) -> Vec<u8> {
        ExchangeRecord {
            recorded_at_ms: t,
            procedure: procedure.into(),
            direction: d as i32,
            outcome: o as i32,
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn counts_by_jst_day_procedure_direction_and_outcome() {
        // 2025-11-22 23:30 JST and 2025-11-23 00:30 JST: one hour apart, two days.
        let late = 1_763_821_800_000;
        let early = late + 3_600_000;
        let mut s = Statistics::new(None, None);
        s.add_entry(&rec(
            late,
            "vaccination",
            Direction::Inquiry,
            Outcome::Provided,
        ));
        s.add_entry(&rec(
            early,
            "vaccination",
            Direction::Inquiry,
            Outcome::Provided,
        ));
        s.add_entry(&rec(
            early,
            "vaccination",
            Direction::Inquiry,
            Outcome::Provided,
        ));
        s.add_entry(&rec(
            early,
            "vaccination",
            Direction::Provision,
            Outcome::Refused,
        ));
        s.add_entry(&rec(
            early,
            "vaccination",
            Direction::Provision,
            Outcome::Held,
        ));
        s.add_entry(b"\xff\xff not a record");
        assert_eq!(s.undecodable, 1);
        let csv = s.to_csv();
        assert_eq!(
            csv,
            "day,procedure,direction,outcome,count\n\
             2025-11-22,vaccination,inquiry,provided,1\n\
             2025-11-23,vaccination,inquiry,provided,2\n\
             2025-11-23,vaccination,provision,held,1\n\
             2025-11-23,vaccination,provision,refused,1\n"
        );
        let mut windowed = Statistics::new(Some(early), None);
        windowed.add_entry(&rec(
            late,
            "vaccination",
            Direction::Inquiry,
            Outcome::Provided,
        ));
        windowed.add_entry(&rec(early, "a,\"b\"", Direction::Relay, Outcome::Relayed));
        assert_eq!(
            windowed.to_csv(),
            "day,procedure,direction,outcome,count\n2025-11-23,\"a,\"\"b\"\"\",relay,relayed,1\n"
        );
    }
}
