//! The operator's view of the tenant's records and their statistics (`renkei.v1.Reports`).
//!
//! Same edge as the other operator services (module `ops`): a terminal of the tenant, a
//! session, the records-reviewer or administrator right, one audit entry per call whatever
//! happens. Filters are checked here and a bad one is INVALID_ARGUMENT naming its field
//! (docs/decisions/0045).

use std::collections::BTreeMap;

use renkei_core::{AgencyCode, ProcedureCode, UnifiedAddressNumber};
use renkei_ops::Right;
use renkei_proto::v1::reports_server::Reports;
use renkei_proto::v1::{
    Direction, GetStatisticsRequest, GetStatisticsResponse, Outcome, QueryRecordsRequest,
    QueryRecordsResponse, StatisticsCell, StatisticsGrouping, StatisticsRow,
};
use renkei_records::{RecordQuery, outcome_name};
use tonic::{Request, Response, Status};

use super::ops::{Audit, Caller, Ops};
use crate::GatewayError;

/// Records per page unless asked otherwise, and at most.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
/// Records examined per call at most: a narrow filter over a long log answers a short page
/// (with a token to go on) instead of holding the call.
const SCAN_LIMIT: usize = 100_000;

const OUTCOMES: [Outcome; 10] = [
    Outcome::Provided,
    Outcome::NoData,
    Outcome::Refused,
    Outcome::Held,
    Outcome::NotProvided,
    Outcome::Expired,
    Outcome::Failed,
    Outcome::Pending,
    Outcome::Relayed,
    Outcome::Purged,
];

fn jst() -> time::UtcOffset {
    renkei_core::jst::OFFSET
}

fn parse_day(field: &str, value: &str) -> Result<time::Date, GatewayError> {
    time::Date::parse(
        value,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| {
        GatewayError::invalid(
            field,
            format!(
                "{:?} is not a day: expected YYYY-MM-DD (a day in Japan time)",
                echo(value)
            ),
        )
    })
}

fn day_start_ms(day: time::Date) -> i64 {
    day.midnight().assume_offset(jst()).unix_timestamp() * 1000
}

/// `YYYY-MM-DD` (Japan time; `end` means the end of that day) or an RFC 3339 timestamp.
fn parse_instant(field: &str, value: &str, end: bool) -> Result<Option<i64>, GatewayError> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() == 10 {
        let day = parse_day(field, value)?;
        let day = if end {
            day.next_day().ok_or_else(|| {
                GatewayError::invalid(field, "the day is past the last representable day")
            })?
        } else {
            day
        };
        return Ok(Some(day_start_ms(day)));
    }
    let t = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            GatewayError::invalid(
                field,
                format!(
                    "{:?} is neither a day (YYYY-MM-DD, Japan time) nor an RFC 3339 timestamp \
                     such as 2026-04-01T09:00:00+09:00",
                    echo(value)
                ),
            )
        })?;
    Ok(Some((t.unix_timestamp_nanos() / 1_000_000) as i64))
}

/// Caller-supplied text, cut short for messages and the audit log.
fn echo(value: &str) -> String {
    value.chars().take(40).collect()
}

fn parse_outcome(name: &str) -> Option<Outcome> {
    OUTCOMES
        .into_iter()
        .find(|o| outcome_name(*o as i32) == name)
}

fn parse_direction(name: &str) -> Option<Direction> {
    match name {
        "inquiry" => Some(Direction::Inquiry),
        "provision" => Some(Direction::Provision),
        "relay" => Some(Direction::Relay),
        "system" => Some(Direction::System),
        _ => None,
    }
}

/// The filters as the record book takes them, and a digest of them that page tokens carry
/// so a token cannot be replayed with other filters.
fn record_query(r: &QueryRecordsRequest) -> Result<(RecordQuery, String), GatewayError> {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    if !r.unified_address_number.is_empty() {
        UnifiedAddressNumber::parse(&r.unified_address_number)
            .map_err(|e| GatewayError::from_core("unified_address_number", e))?;
    }
    let since = parse_instant("from", &r.from, false)?;
    let until = parse_instant("to", &r.to, true)?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(GatewayError::invalid(
            "to",
            format!(
                "the period ends ({}) before it starts ({}): `to` must be after `from`",
                echo(&r.to),
                echo(&r.from)
            ),
        ));
    }
    if !r.counterparty.is_empty() {
        AgencyCode::parse(&r.counterparty)
            .map_err(|e| GatewayError::from_core("counterparty", e))?;
    }
    if !r.procedure.is_empty() {
        ProcedureCode::parse(&r.procedure).map_err(|e| GatewayError::from_core("procedure", e))?;
    }
    let mut outcomes = Vec::with_capacity(r.outcomes.len());
    for (i, name) in r.outcomes.iter().enumerate() {
        let o = parse_outcome(name).ok_or_else(|| {
            GatewayError::invalid(
                format!("outcomes[{i}]"),
                format!(
                    "unknown outcome {:?}: expected one of {}",
                    echo(name),
                    OUTCOMES.map(|o| outcome_name(o as i32)).join(", ")
                ),
            )
        })?;
        outcomes.push(o as i32);
    }
    outcomes.sort_unstable();
    outcomes.dedup();
    let direction = match r.direction.as_str() {
        "" => None,
        d => Some(parse_direction(d).ok_or_else(|| {
            GatewayError::invalid(
                "direction",
                format!(
                    "unknown direction {:?}: expected inquiry, provision, relay or system",
                    echo(d)
                ),
            )
        })? as i32),
    };
    let limit = match r.page_size {
        0 => DEFAULT_PAGE,
        n if n > MAX_PAGE => {
            return Err(GatewayError::invalid(
                "page_size",
                format!("{n} is too many: at most {MAX_PAGE} records per page"),
            ));
        }
        n => n,
    };
    let filter = format!(
        "{}|{:?}|{:?}|{}|{}|{outcomes:?}|{direction:?}",
        r.unified_address_number, since, until, r.counterparty, r.procedure
    );
    let digest = hex::encode(&renkei_crypto::sha256(filter.as_bytes())[..8]);
    let from_seq = match r.page_token.as_str() {
        "" => 0,
        token => {
            let bad = |why: &str| GatewayError::invalid("page_token", why.to_owned());
            let (seq, of) = token
                .split_once('.')
                .ok_or_else(|| bad("not a page token this service issued"))?;
            if of != digest {
                return Err(bad(
                    "the token belongs to a query with other filters: start again without a page token",
                ));
            }
            seq.parse::<u64>()
                .map_err(|_| bad("not a page token this service issued"))?
        }
    };
    let q = RecordQuery {
        unified_address_number: non_empty(&r.unified_address_number),
        counterparty: non_empty(&r.counterparty),
        procedure: non_empty(&r.procedure),
        since_ms: since,
        until_ms: until,
        outcomes,
        direction,
        limit: limit as usize,
        from_seq,
        scan_limit: SCAN_LIMIT,
        ..Default::default()
    };
    Ok((q, digest))
}

/// What the query asked, for the audit entry (bounded: every part is caller-supplied).
fn describe(r: &QueryRecordsRequest) -> String {
    let mut parts = Vec::new();
    for (name, v) in [
        ("from", &r.from),
        ("to", &r.to),
        ("counterparty", &r.counterparty),
        ("direction", &r.direction),
        ("page", &r.page_token),
    ] {
        if !v.is_empty() {
            parts.push(format!("{name}={}", echo(v)));
        }
    }
    if !r.outcomes.is_empty() {
        let outcomes: Vec<String> = r.outcomes.iter().take(10).map(|o| echo(o)).collect();
        parts.push(format!("outcomes={}", outcomes.join(",")));
    }
    parts.join(" ")
}

fn add_cell(row: &mut StatisticsRow, direction: &str, outcome: &str, count: u64) {
    match (direction, outcome) {
        ("inquiry", "pending") => row.inquiries_pending += count,
        ("inquiry", "provided" | "no_data" | "refused" | "not_provided" | "expired" | "failed") => {
            row.inquiries += count
        }
        ("provision", "provided" | "no_data") => row.provisions += count,
        ("provision", "refused") => row.refusals += count,
        ("provision", "held") => row.holds += count,
        ("provision", "not_provided") => row.not_provided += count,
        ("provision", "expired") => row.expired += count,
        _ => {}
    }
    match row
        .cells
        .iter_mut()
        .find(|c| c.direction == direction && c.outcome == outcome)
    {
        Some(c) => c.count += count,
        None => row.cells.push(StatisticsCell {
            direction: direction.into(),
            outcome: outcome.into(),
            count,
        }),
    }
}

fn statistics_rows(
    stats: &renkei_records::Statistics,
    grouping: StatisticsGrouping,
) -> GetStatisticsResponse {
    let mut rows: BTreeMap<(String, String), StatisticsRow> = BTreeMap::new();
    let mut total = StatisticsRow::default();
    for (k, &n) in &stats.rows {
        let (day, procedure) = match grouping {
            StatisticsGrouping::Procedure => (String::new(), k.procedure.clone()),
            StatisticsGrouping::Day => (k.day.clone(), String::new()),
            _ => (k.day.clone(), k.procedure.clone()),
        };
        let row = rows
            .entry((day.clone(), procedure.clone()))
            .or_insert_with(|| StatisticsRow {
                day,
                procedure,
                ..Default::default()
            });
        add_cell(row, k.direction, k.outcome, n);
        add_cell(&mut total, k.direction, k.outcome, n);
    }
    GetStatisticsResponse {
        rows: rows.into_values().collect(),
        total: Some(total),
    }
}

impl Ops {
    /// Records reviewers and administrators only; a refusal is audited.
    async fn reviewer<T>(
        &self,
        req: &Request<T>,
        caller: &Caller,
        audit: &mut Audit,
    ) -> Result<(), Status> {
        let actor = self.operator(req, caller, audit, None).await?;
        if actor.has(&Right::Administer) || actor.has(&Right::ReviewRecords) {
            return Ok(());
        }
        Err(Self::deny(
            caller,
            audit,
            format!(
                "operator {} may not read the records: administrators and records reviewers only",
                actor.user
            ),
        )
        .await)
    }
}

#[tonic::async_trait]
impl Reports for Ops {
    async fn query_records(
        &self,
        req: Request<QueryRecordsRequest>,
    ) -> Result<Response<QueryRecordsResponse>, Status> {
        let caller = self.caller(&req, false)?;
        let mut audit = Audit::new("records.query");
        self.reviewer(&req, &caller, &mut audit).await?;
        let r = req.into_inner();
        audit.target = r.unified_address_number.chars().take(15).collect();
        audit.procedure = r.procedure.chars().take(64).collect();
        audit.detail = describe(&r);
        let result = async {
            let (q, digest) = record_query(&r)?;
            let book = caller.tenant.records.clone();
            let page = tokio::task::spawn_blocking(move || book.page(&q))
                .await
                .map_err(|e| GatewayError::task("record query", e))??;
            let records = page
                .records
                .into_iter()
                .map(|mut rec| {
                    // Hub-side join key; never for operators (it is empty at gateways anyway).
                    rec.person_ref.clear();
                    rec
                })
                .collect();
            Ok(QueryRecordsResponse {
                records,
                next_page_token: page
                    .next
                    .map(|seq| format!("{seq}.{digest}"))
                    .unwrap_or_default(),
            })
        }
        .await;
        Self::finish(&caller, &audit, result).await
    }

    async fn get_statistics(
        &self,
        req: Request<GetStatisticsRequest>,
    ) -> Result<Response<GetStatisticsResponse>, Status> {
        let caller = self.caller(&req, false)?;
        let mut audit = Audit::new("records.stats");
        self.reviewer(&req, &caller, &mut audit).await?;
        let r = req.into_inner();
        audit.detail = format!("from={} to={}", echo(&r.from), echo(&r.to));
        let result = async {
            let from = match r.from.as_str() {
                "" => None,
                d => Some(parse_day("from", d)?),
            };
            let to = match r.to.as_str() {
                "" => None,
                d => Some(parse_day("to", d)?),
            };
            if let (Some(f), Some(t)) = (from, to)
                && f > t
            {
                return Err(GatewayError::invalid(
                    "to",
                    format!("the period ends ({t}) before it starts ({f}): `to` must not be before `from`"),
                ));
            }
            let until = to.and_then(|t| t.next_day());
            let grouping =
                StatisticsGrouping::try_from(r.group_by).unwrap_or(StatisticsGrouping::Unspecified);
            let book = caller.tenant.records.clone();
            let stats = tokio::task::spawn_blocking(move || {
                book.statistics(
                    from.map(|d| d.to_string()).as_deref(),
                    until.map(|d| d.to_string()).as_deref(),
                )
            })
            .await
            .map_err(|e| GatewayError::task("statistics", e))??;
            Ok(statistics_rows(&stats, grouping))
        }
        .await;
        Self::finish(&caller, &audit, result).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_japan_days_and_to_includes_the_whole_day() {
        // 2026-04-01 00:00 JST is 2026-03-31 15:00 UTC.
        let from = parse_instant("from", "2026-04-01", false).unwrap().unwrap();
        let to = parse_instant("to", "2026-04-01", true).unwrap().unwrap();
        assert_eq!(from, 1_774_969_200_000);
        assert_eq!(to - from, 86_400_000);
        let t = parse_instant("from", "2026-04-01T09:00:00+09:00", false)
            .unwrap()
            .unwrap();
        assert_eq!(t, from + 9 * 3_600_000);
        for bad in ["2026-13-01", "yesterday", "2026-04-01 09:00"] {
            match parse_instant("from", bad, false) {
                Err(GatewayError::InvalidArgument { field, .. }) => assert_eq!(field, "from"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_outcome_name_parses_back() {
        for o in OUTCOMES {
            assert_eq!(parse_outcome(outcome_name(o as i32)), Some(o));
        }
        assert_eq!(parse_outcome("answered"), None);
    }
}
