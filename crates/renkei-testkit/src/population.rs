//! A small, deterministic synthetic population for the demo and the end-to-end tests:
//! residents with valid My Numbers and routine childhood vaccination histories, plus the
//! two children of the demo who moved from 横浜市 to 札幌市.
//!
//! Names are deliberately absent: the gateway never holds a name, so nothing here needs one.

use renkei_core::{Clock, MyNumber};
use renkei_proto::v1::{Content, Dose, VaccinationHistory, content};

/// One resident as a municipality's systems know them.
#[derive(Clone)]
pub struct Resident {
    pub unified_address_number: String,
    pub my_number: String,
    pub birth: time::Date,
    /// Routine doses on record in this municipality; `None` means no provision copy.
    pub history: Option<VaccinationHistory>,
}

impl std::fmt::Debug for Resident {
    /// Never prints the My Number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resident")
            .field("unified_address_number", &self.unified_address_number)
            .field("birth", &self.birth)
            .finish_non_exhaustive()
    }
}

/// The UTC date `clock` stands at: the "today" the population's histories run up to.
pub fn today(clock: &dyn Clock) -> time::Date {
    let nanos = i128::from(clock.now_ms()) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map_or(time::OffsetDateTime::UNIX_EPOCH, |t| t)
        .date()
}

/// Small deterministic generator (SplitMix64), so every run builds the same population.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A valid My Number derived from a seed.
pub fn my_number(rng: &mut Rng) -> String {
    let first11 = format!("{:011}", rng.below(100_000_000_000));
    MyNumber::complete(&first11).unwrap_or_default()
}

const MAKERS: [&str; 4] = ["第一三共", "KMバイオロジクス", "武田薬品工業", "MSD"];

/// Doses a child born on `birth` has had by `today`, with realistic jitter and lots.
pub fn childhood_history(
    rng: &mut Rng,
    birth: time::Date,
    today: time::Date,
    institution: &str,
) -> VaccinationHistory {
    let mut doses = Vec::new();
    for (code, n, age) in renkei_core::vaccines::CHILD_SCHEDULE {
        let date = birth + time::Duration::days(age + rng.below(20) as i64);
        if date > today {
            continue;
        }
        doses.push(Dose {
            vaccine_code: (*code).into(),
            dose_number: *n,
            date: date.to_string(),
            lot: format!(
                "{}{:04}",
                ["AB", "KM", "TK", "MS"][rng.below(4) as usize],
                rng.below(10_000)
            ),
            maker: MAKERS[rng.below(MAKERS.len() as u64) as usize].into(),
            institution_code: institution.into(),
            ..Default::default()
        });
    }
    VaccinationHistory { doses }
}

pub fn content(history: &VaccinationHistory) -> Content {
    Content {
        body: Some(content::Body::Vaccination(history.clone())),
    }
}

/// The demo's population of one municipality: `n` children, numbered after the agency
/// code, each with a copy except every fifth (no record yet).
pub fn municipality(code: &str, n: u32, today: time::Date) -> Vec<Resident> {
    let seed = code.bytes().fold(0x00C0_FFEE_u64, |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    });
    let mut rng = Rng::new(seed);
    let institution = format!("{}{:08}", &code[..2], 10_000_000 + rng.below(1000));
    (1..=n)
        .map(|i| {
            let birth = today - time::Duration::days(200 + rng.below(2500) as i64);
            let history =
                (i % 5 != 0).then(|| childhood_history(&mut rng, birth, today, &institution));
            Resident {
                unified_address_number: format!("{code}{i:07}"),
                my_number: my_number(&mut rng),
                birth,
                history,
            }
        })
        .collect()
}

/// The two children of the demo who moved from 横浜市 to 札幌市: the first has a
/// vaccination record in 横浜市, the second has none. Returns (in 横浜市, in 札幌市).
pub fn movers(today: time::Date) -> Vec<(Resident, Resident)> {
    let mut rng = Rng::new(0x5A_9905);
    let mut out = Vec::new();
    for (i, with_record) in [(1u32, true), (2, false)] {
        let birth = today - time::Duration::days(700 + 400 * i64::from(i));
        let my = my_number(&mut rng);
        let history = with_record.then(|| childhood_history(&mut rng, birth, today, "1410099999"));
        let yokohama = Resident {
            unified_address_number: format!("1410039{i:06}"),
            my_number: my.clone(),
            birth,
            history,
        };
        let sapporo = Resident {
            unified_address_number: format!("0110029{i:06}"),
            my_number: my,
            birth,
            history: None,
        };
        out.push((yokohama, sapporo));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_valid() {
        let today = time::macros::date!(2026 - 11 - 22);
        let a = municipality("141003", 10, today);
        let b = municipality("141003", 10, today);
        assert_eq!(
            a.iter().map(|r| &r.my_number).collect::<Vec<_>>(),
            b.iter().map(|r| &r.my_number).collect::<Vec<_>>()
        );
        for r in &a {
            assert!(MyNumber::parse(&r.my_number).is_ok());
            assert!(!format!("{r:?}").contains(&r.my_number));
        }
        assert_eq!(a.iter().filter(|r| r.history.is_none()).count(), 2);
        let m = movers(today);
        assert_eq!(m[0].0.my_number, m[0].1.my_number);
        assert!(m[0].0.history.as_ref().is_some_and(|h| !h.doses.is_empty()));
        assert!(m[1].0.history.is_none());
    }

    #[test]
    fn today_is_the_utc_date_of_the_clock() {
        // 2026-11-22T23:59:59.999Z, then one millisecond later.
        let clock = renkei_core::FakeClock::at(1_795_391_999_999);
        assert_eq!(today(clock.as_ref()), time::macros::date!(2026 - 11 - 22));
        clock.advance(std::time::Duration::from_millis(1));
        assert_eq!(today(clock.as_ref()), time::macros::date!(2026 - 11 - 23));
    }
}
