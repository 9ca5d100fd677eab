//! Person-by-person reads, for syncs that never hold the population.

use std::collections::HashSet;
use std::path::Path;

use super::ReadOptions;
use super::read::add_csv_dose;
use super::rows::{RowOutcome, RowReader};
use super::source::open_ledger;
use crate::model::{Person, canonical_order};
use crate::text::TextEncoding;
use crate::{RowError, VaccinationError};

/// What a streamed read saw besides the persons it handed on.
#[derive(Debug, Default)]
pub struct StreamReport {
    pub rows: u64,
    pub errors: Vec<RowError>,
    pub encoding: Option<TextEncoding>,
    /// Persons handed on: each once, with its first run of rows.
    pub groups: u64,
    /// Persons whose rows were not contiguous: only their first run of rows was handed on,
    /// so the caller must read them again whole ([`read_ledger_persons`]). May name a
    /// contiguous person too (a 64-bit hash collision: that person is then not handed on
    /// at all, and not counted in `groups`), never misses a split one.
    pub split: HashSet<String>,
    /// The reader stopped early because the consumer asked it to.
    pub stopped: bool,
}

/// Reads a ledger file person by person, without holding the population: each run of
/// consecutive rows of one person is handed to `each` (doses in canonical order) as soon as
/// the next person's row is read. Exports are grouped by person, so each person normally
/// comes whole; a person whose rows come back later is handed on with its first run only
/// and listed in [`StreamReport::split`].
/// `each` returns `false` to stop reading.
pub fn stream_ledger(
    path: &Path,
    opts: &ReadOptions,
    mut each: impl FnMut(String, Person) -> bool,
) -> Result<StreamReport, VaccinationError> {
    let file = path.display().to_string();
    let (text, enc) = open_ledger(path, opts)?;
    let mut out = StreamReport {
        encoding: Some(enc),
        ..Default::default()
    };
    // A 64-bit hash per person seen, to notice a person coming back: a set of the numbers
    // themselves would cost several times the memory.
    let mut seen: HashSet<u64> = HashSet::new();
    let hasher = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default();
    let mut emit = |uan: String, mut p: Person, out: &mut StreamReport| -> bool {
        if !seen.insert(std::hash::BuildHasher::hash_one(&hasher, &uan)) {
            // A later run of rows of a person already handed on: not handed on again, the
            // caller reads the person whole in a second pass.
            out.split.insert(uan);
            return true;
        }
        canonical_order(&mut p.doses);
        out.groups += 1;
        each(uan, p)
    };
    let mut rows = RowReader::new(&file, text, opts, enc)?;
    let mut cur: Option<(String, Person, Vec<u64>)> = None;
    while let Some(row) = rows.next_row() {
        out.rows += 1;
        match row {
            RowOutcome::Bad(e) => out.errors.push(e),
            RowOutcome::Row {
                uan,
                info,
                dose,
                line,
            } => {
                if let Some(info) = info {
                    if let Some((u, p, _)) = cur.take()
                        && !emit(u, p, &mut out)
                    {
                        out.stopped = true;
                        return Ok(out);
                    }
                    cur = Some((
                        uan,
                        Person {
                            info,
                            doses: Vec::new(),
                        },
                        Vec::new(),
                    ));
                }
                if let Some((uan, person, lines)) = cur.as_mut()
                    && let Some(e) = add_csv_dose(&file, uan, person, lines, dose, line)
                {
                    out.errors.push(e);
                }
            }
        }
    }
    if let Some((u, p, _)) = cur.take()
        && !emit(u, p, &mut out)
    {
        out.stopped = true;
    }
    Ok(out)
}
