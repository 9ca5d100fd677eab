//! The records CSV, with the columns `renkei ops records --csv` writes, and a UTF-8 BOM
//! first so that Excel in a Japanese locale reads it as UTF-8 rather than Shift_JIS.

use renkei_proto::v1::ExchangeRecord;
use renkei_records::{direction_name, outcome_name};

pub(crate) const BOM: &str = "\u{feff}";

pub(crate) const HEADER: [&str; 17] = [
    "sequence",
    "recorded_at",
    "direction",
    "counterparty",
    "inquirer",
    "provider",
    "procedure",
    "item",
    "inquiry_id",
    "permit_id",
    "outcome",
    "reason",
    "unified_address_number",
    "operator",
    "envelope_sha256",
    "sealed_answer_sha256",
    "note",
];

fn stamp(ms: i64) -> String {
    if ms == 0 {
        return String::new();
    }
    renkei_core::format_ms(ms).replacen(' ', "T", 1)
}

/// Made of the record's own fields only: records carry no payload and no My Number.
pub(crate) fn row(r: &ExchangeRecord) -> [String; 17] {
    [
        r.sequence.to_string(),
        stamp(r.recorded_at_ms),
        direction_name(r.direction).into(),
        r.counterparty.clone(),
        r.inquirer.clone(),
        r.provider.clone(),
        r.procedure.clone(),
        r.item.to_string(),
        r.inquiry_id.clone(),
        r.permit_id.clone(),
        outcome_name(r.outcome).into(),
        r.reason.clone(),
        r.unified_address_number.clone(),
        r.operator.clone(),
        r.envelope_sha256.clone(),
        r.sealed_answer_sha256.clone(),
        r.note.clone(),
    ]
}

/// The whole file: BOM, header, one row per record.
pub(crate) fn write(records: &[ExchangeRecord]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(BOM.as_bytes().to_vec());
    w.write_record(HEADER)?;
    for r in records {
        w.write_record(row(r))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_file_starts_with_the_bom_then_the_header_and_quotes_what_needs_it() {
        let r = ExchangeRecord {
            sequence: 7,
            procedure: "vaccination".into(),
            note: "a,b".into(),
            ..Default::default()
        };
        let bytes = write(&[r]).unwrap();
        assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF]);
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), HEADER.join(","));
        let row = lines.next().unwrap();
        assert!(row.starts_with("7,,"), "{row}");
        assert!(row.ends_with(",\"a,b\""), "{row}");
        assert!(lines.next().is_none());
    }
}
