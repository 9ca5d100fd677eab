//! Writing ledgers (UTF-8, with a header, without a BOM).

use std::io::Write;

use renkei_proto::v1::Dose;

use super::COLUMNS;
use crate::model::{LocalMaster, PersonInfo, Sex};

/// Writes the persons' doses as ledger rows (UTF-8, with a header, without a BOM).
pub fn write_ledger<W: Write>(out: W, master: &LocalMaster) -> Result<(), csv::Error> {
    let mut w = LedgerWriter::new(out)?;
    for (uan, p) in &master.persons {
        for d in &p.doses {
            w.write(uan, &p.info, d)?;
        }
    }
    w.finish()
}

/// Streams ledger rows, for writers that never hold a whole population (gen-data).
pub struct LedgerWriter<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> std::fmt::Debug for LedgerWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LedgerWriter")
    }
}

impl<W: Write> LedgerWriter<W> {
    pub fn new(out: W) -> Result<Self, csv::Error> {
        let mut w = csv::WriterBuilder::new().from_writer(out);
        w.write_record(COLUMNS)?;
        Ok(LedgerWriter { w })
    }

    pub fn write(&mut self, uan: &str, info: &PersonInfo, d: &Dose) -> Result<(), csv::Error> {
        let dose = d.dose_number.to_string();
        self.w.write_record([
            info.local_number.as_str(),
            uan,
            &info.name,
            &info.name_kana,
            &info.birth_date,
            info.sex.map_or("", Sex::code),
            &d.vaccine_code,
            &dose,
            &d.date,
            if d.date_unknown { "1" } else { "0" },
            &d.lot,
            &d.maker,
            &d.institution_code,
            if d.outside_city { "1" } else { "0" },
            &d.remarks,
        ])
    }

    pub fn finish(mut self) -> Result<(), csv::Error> {
        self.w.flush()?;
        Ok(())
    }
}
