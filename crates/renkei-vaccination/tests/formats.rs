//! The local formats: every bad-row case of the ledger CSV, encodings, FHIR output
//! against the official FHIR R4 JSON schema, and round trips through each format.
#![allow(clippy::unwrap_used)]

use renkei_vaccination::generate::{GenOptions, GenSinks, generate};
use renkei_vaccination::ledger::{ReadOptions, read_ledger, read_ledger_bytes, write_ledger};
use renkei_vaccination::text::{TextEncoding, decode, encode_shift_jis};
use renkei_vaccination::{VaccinationError, fhir};

const HEADER: &str = "宛名番号,統合宛名番号,氏名,氏名カナ,生年月日,性別,ワクチンコード,接種回数,接種日,接種日不明,ロット番号,メーカー,医療機関コード,市外フラグ,備考";

fn opts() -> ReadOptions {
    ReadOptions {
        today: Some(time::macros::date!(2026 - 11 - 23)),
        ..Default::default()
    }
}

fn row(uan: &str, vaccine: &str, dose: &str, date: &str, unknown: &str) -> String {
    format!(
        "A1,{uan},佐藤　蓮,サトウ　レン,2020-01-10,1,{vaccine},{dose},{date},{unknown},AB123C,第一三共,1410000001,0,"
    )
}

fn read(text: &str) -> renkei_vaccination::ledger::ReadReport {
    read_ledger_bytes("test.csv", text.as_bytes(), &opts(), TextEncoding::Utf8).unwrap()
}

#[test]
fn each_bad_row_is_reported_with_line_column_and_reason_and_good_rows_are_kept() {
    let long_lot = "L".repeat(21);
    // (row text, the column named, a word of the reason)
    let cases: Vec<(String, Option<&str>, &str)> = vec![
        ("A1,100,x,y".to_owned(), None, "expected 15 columns"),
        (
            row("12a", "MR", "1", "2021-03-01", "0"),
            Some("統合宛名番号"),
            "digits",
        ),
        (
            row("1234567890123456", "MR", "1", "2021-03-01", "0"),
            Some("統合宛名番号"),
            "15",
        ),
        (
            ",,佐藤　蓮,サトウ　レン,2020-01-10,1,MR,1,2021-03-01,0,,,,0,".to_owned(),
            Some("統合宛名番号"),
            "names no person",
        ),
        (
            "A9,,佐藤　蓮,サトウ　レン,2020-01-10,1,MR,1,2021-03-01,0,,,,0,".to_owned(),
            Some("統合宛名番号"),
            "no mapping file",
        ),
        (
            row("100", "XX", "1", "2021-03-01", "0"),
            Some("ワクチンコード"),
            "not a known vaccine",
        ),
        (
            row("100", "MR", "3", "2021-03-01", "0"),
            Some("接種回数"),
            "1 to 2",
        ),
        (
            row("100", "MR", "0", "2021-03-01", "0"),
            Some("接種回数"),
            "1 to 2",
        ),
        (
            row("100", "MR", "一", "2021-03-01", "0"),
            Some("接種回数"),
            "1 to 2",
        ),
        (
            row("100", "MR", "1", "2023-02-30", "0"),
            Some("接種日"),
            "not a date",
        ),
        (
            row("100", "MR", "1", "21-3-1", "0"),
            Some("接種日"),
            "not a date",
        ),
        (row("100", "MR", "1", "", "0"), Some("接種日"), "is empty"),
        (
            row("100", "MR", "1", "2021-03-01", "1"),
            Some("接種日"),
            "must be empty",
        ),
        (
            row("100", "MR", "1", "2099-01-01", "0"),
            Some("接種日"),
            "future",
        ),
        (
            row("100", "MR", "1", "2019-12-31", "0"),
            Some("接種日"),
            "before the person's birth",
        ),
        (
            row("100", "MR", "1", "2021-03-01", "2"),
            Some("接種日不明"),
            "0 or 1",
        ),
        (
            "A1,100,佐藤　蓮,サトウ　レン,2020-01-10,1,MR,1,2021-03-01,0,AB1,第一三共,12345,0,"
                .to_owned(),
            Some("医療機関コード"),
            "10 digits",
        ),
        (
            "A1,100,佐藤　蓮,サトウ　レン,2020-01-10,1,MR,1,2021-03-01,0,AB1,第一三共,,はい,"
                .to_owned(),
            Some("市外フラグ"),
            "0 or 1",
        ),
        (
            format!(
                "A1,100,佐藤　蓮,サトウ　レン,2020-01-10,1,MR,1,2021-03-01,0,{long_lot},第一三共,,0,"
            ),
            Some("ロット番号"),
            "longer than 20",
        ),
        (
            "A1,100,佐藤　蓮,サトウ　レン,2020-01-10,1,MR,1,2021-03-01,0,AB1,\"第一\u{7}三共\",,0,"
                .to_owned(),
            Some("メーカー"),
            "control characters",
        ),
        (
            "A1,100,佐藤　蓮,サトウ　レン,2020-13-10,1,MR,1,2021-03-01,0,,,,0,".to_owned(),
            Some("生年月日"),
            "not a date",
        ),
        (
            "A1,100,佐藤　蓮,サトウ　レン,2020-01-10,男性,MR,1,2021-03-01,0,,,,0,".to_owned(),
            Some("性別"),
            "sex code",
        ),
        (
            "A1,100,佐藤　蓮,サトウ　レン,,1,MR,1,1899-12-31,0,,,,0,".to_owned(),
            Some("接種日"),
            "before 1900",
        ),
    ];
    let good = [
        row("100", "MR", "1", "2021-03-01", "0"),
        row("100", "BCG", "1", "", "1"),
        row("200", "HIB", "1", "20200310", "0"),
        row("200", "HIB", "2", "2020/04/10", "0"),
    ];
    let mut text = format!("{HEADER}\n{}\n", good[0]);
    for (r, _, _) in &cases {
        text.push_str(r);
        text.push('\n');
    }
    for g in &good[1..] {
        text.push_str(g);
        text.push('\n');
    }
    // A duplicate of the first good row, last.
    text.push_str(&good[0]);
    text.push('\n');

    let report = read(&text);
    assert_eq!(report.rows as usize, cases.len() + good.len() + 1);
    assert_eq!(report.errors.len(), cases.len() + 1, "{:#?}", report.errors);
    for (i, (_, column, word)) in cases.iter().enumerate() {
        let e = &report.errors[i];
        assert_eq!(e.file, "test.csv");
        assert_eq!(e.line, i as u64 + 3, "{e}");
        assert_eq!(e.column.as_deref(), *column, "{e}");
        assert!(e.reason.contains(word), "{e} should say {word:?}");
    }
    let dup = report.errors.last().unwrap();
    assert_eq!(dup.line, (cases.len() + good.len() + 2) as u64);
    assert!(dup.reason.contains("duplicates line 2"), "{dup}");
    // The good rows went ahead.
    assert_eq!(report.master.persons.len(), 2);
    assert_eq!(report.master.dose_count(), 4);
    let p200 = &report.master.persons["200"];
    assert_eq!(p200.doses[0].date, "2020-03-10");
    assert_eq!(p200.doses[1].date, "2020-04-10");
    assert!(
        report.master.persons["100"]
            .doses
            .iter()
            .any(|d| d.date_unknown)
    );
}

#[test]
fn a_missing_column_fails_the_file_with_the_column_named() {
    let text = "統合宛名番号,ワクチンコード,接種回数\n100,MR,1\n";
    let err = read_ledger_bytes("x.csv", text.as_bytes(), &opts(), TextEncoding::Utf8).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("接種日") && msg.contains("接種日不明"),
        "{msg}"
    );
}

#[test]
fn the_system_number_is_mapped_through_the_mapping_file() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("map.csv");
    std::fs::write(&mapping, "宛名番号,統合宛名番号\nA1,700\nA2,x\n").unwrap();
    let (map, errors) =
        renkei_vaccination::ledger::read_mapping(&mapping, TextEncoding::Auto).unwrap();
    assert_eq!(map.len(), 1);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 3);
    let text = format!(
        "{HEADER}\nA1,,佐藤　蓮,サトウ　レン,2020-01-10,1,MR,1,2021-03-01,0,,,,0,\nA3,,佐藤　蓮,サトウ　レン,2020-01-10,1,MR,1,2021-03-01,0,,,,0,\n"
    );
    let o = ReadOptions {
        mapping: Some(map),
        ..opts()
    };
    let r = read_ledger_bytes("m.csv", text.as_bytes(), &o, TextEncoding::Utf8).unwrap();
    assert!(r.master.persons.contains_key("700"));
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].column.as_deref(), Some("宛名番号"));
    assert!(r.errors[0].reason.contains("A3 is not in the mapping file"));
}

#[test]
fn shift_jis_and_bom_files_read_like_utf8() {
    let text = format!(
        "{HEADER}\n{}\n{}\n",
        row("100", "MR", "1", "2021-03-01", "0"),
        "A2,200,髙橋　凜,タカハシ　リン,2019-05-05,2,JE,1,2022-06-01,0,JE1,KMバイオロジクス,,1,市外（東京都）で接種"
    );
    let dir = tempfile::tempdir().unwrap();
    let utf8 = dir.path().join("utf8.csv");
    let bom = dir.path().join("bom.csv");
    let sjis = dir.path().join("sjis.csv");
    std::fs::write(&utf8, &text).unwrap();
    std::fs::write(&bom, [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat()).unwrap();
    let sjis_bytes = encode_shift_jis(&text).unwrap();
    assert!(
        std::str::from_utf8(&sjis_bytes).is_err(),
        "the test file must really be Shift_JIS"
    );
    std::fs::write(&sjis, &sjis_bytes).unwrap();

    let a = read_ledger(&utf8, &opts()).unwrap();
    let b = read_ledger(&bom, &opts()).unwrap();
    let c = read_ledger(&sjis, &opts()).unwrap();
    assert_eq!(c.encoding, Some(TextEncoding::ShiftJis));
    assert_eq!(b.encoding, Some(TextEncoding::Utf8));
    for r in [&a, &b, &c] {
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.master.persons.len(), 2);
    }
    assert_eq!(a.master.persons["200"], c.master.persons["200"]);
    assert_eq!(c.master.persons["200"].info.name, "髙橋　凜");
    assert_eq!(
        c.master.persons["200"].doses[0].remarks,
        "市外（東京都）で接種"
    );
    assert_eq!(a.master.persons["100"], b.master.persons["100"]);

    // Forcing Shift_JIS on the same bytes is the same; forcing UTF-8 reports the rows.
    let forced = read_ledger(
        &sjis,
        &ReadOptions {
            encoding: TextEncoding::ShiftJis,
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(forced.master.persons.len(), 2);
    let wrong = read_ledger(
        &sjis,
        &ReadOptions {
            encoding: TextEncoding::Utf8,
            ..opts()
        },
    );
    match wrong {
        Ok(r) => {
            assert!(!r.errors.is_empty() && r.errors.iter().all(|e| e.reason.contains("UTF-8")))
        }
        Err(VaccinationError::Format { .. }) => {}
        Err(e) => panic!("unexpected {e}"),
    }
}

#[test]
fn an_invalid_shift_jis_byte_fails_only_its_row() {
    let good = row("100", "MR", "1", "2021-03-01", "0");
    let mut bytes = encode_shift_jis(&format!("{HEADER}\n{good}\n")).unwrap();
    // 0x85 0x40 is not a character in Shift_JIS (an unassigned lead byte row).
    let mut bad = encode_shift_jis("A2,200,").unwrap();
    bad.extend_from_slice(b"\x85\x40");
    bad.extend_from_slice(
        &encode_shift_jis(",タナカ,2019-05-05,2,MR,1,2021-03-01,0,,,,0,\n").unwrap(),
    );
    bytes.extend_from_slice(&bad);
    let (text, enc) = decode(bytes, TextEncoding::Auto);
    assert_eq!(enc, TextEncoding::ShiftJis);
    let r = read_ledger_bytes("bad.csv", &text, &opts(), enc).unwrap();
    assert_eq!(r.master.persons.len(), 1);
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].line, 3);
    assert_eq!(r.errors[0].column.as_deref(), Some("氏名"));
    assert!(r.errors[0].reason.contains("Shift_JIS"));
}

#[test]
fn a_large_utf8_file_is_streamed_and_a_stray_shift_jis_row_fails_alone() {
    // More than the 64 KiB the encoding is guessed from, then one Shift_JIS row.
    let mut bytes = format!("{HEADER}\n").into_bytes();
    let mut n = 0u64;
    while bytes.len() < 200 * 1024 {
        n += 1;
        bytes.extend_from_slice(
            format!("{}\n", row(&n.to_string(), "MR", "1", "2021-03-01", "0")).as_bytes(),
        );
    }
    bytes.extend_from_slice(
        &encode_shift_jis("A1,999999,田中,タナカ,2020-01-10,1,MR,1,2021-03-01,0,,,,0,\n").unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    std::fs::write(&path, &bytes).unwrap();
    let r = read_ledger(&path, &opts()).unwrap();
    assert_eq!(r.encoding, Some(TextEncoding::Utf8));
    assert_eq!(r.master.persons.len() as u64, n);
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert_eq!(r.errors[0].line, n + 2);
    assert!(r.errors[0].reason.contains("UTF-8"));
}

fn generated(n: u64, anomalies: bool) -> (Vec<u8>, renkei_vaccination::generate::GenSummary) {
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    let o = GenOptions {
        seed: 11,
        residents: n,
        city: "141003".into(),
        today: time::macros::date!(2026 - 11 - 23),
        anomalies,
    };
    let summary = {
        let mut sinks = GenSinks::new(&mut a, &mut b, &mut c).unwrap();
        let s = generate(&o, &mut sinks, |_| {}).unwrap();
        sinks.finish().unwrap();
        s
    };
    (a, summary)
}

#[test]
fn generated_ledger_reads_back_with_exactly_the_seeded_bad_rows() {
    let (ledger, s) = generated(5000, true);
    let r = read_ledger_bytes("gen.csv", &ledger, &opts(), TextEncoding::Utf8).unwrap();
    assert_eq!(r.errors.len() as u64, s.bad_rows, "{:?}", r.errors);
    assert!(r.errors.iter().all(|e| e.reason.contains("2023-02-30")));
    assert_eq!(r.master.dose_count() as u64, s.dose_rows);
    assert_eq!(r.master.persons.len() as u64, s.persons_with_records);
    // Written back out and read again: the same master.
    let mut out = Vec::new();
    write_ledger(&mut out, &r.master).unwrap();
    let again = read_ledger_bytes("again.csv", &out, &opts(), TextEncoding::Utf8).unwrap();
    assert!(again.errors.is_empty());
    assert_eq!(again.master.persons, r.master.persons);
}

#[test]
fn fhir_output_validates_against_the_official_r4_schema_and_reads_back() {
    let (ledger, _) = generated(400, true);
    let r = read_ledger_bytes("gen.csv", &ledger, &opts(), TextEncoding::Utf8).unwrap();
    let bundle = fhir::to_bundle("141003", &r.master);
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/fhir.schema.json")).unwrap();
    let validator = jsonschema::draft6::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&bundle)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The validator does catch a broken resource: an Immunization without its required status
    // and with a dose number of the wrong type.
    let mut broken = bundle.clone();
    let imm = broken["entry"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["resource"]["resourceType"] == "Immunization")
        .unwrap();
    imm["resource"]["status"] = serde_json::json!(42);
    imm["resource"]["protocolApplied"][0]["doseNumberPositiveInt"] = serde_json::json!("one");
    assert!(!validator.is_valid(&broken));

    let back = fhir::from_bundle(&bundle).unwrap();
    assert_eq!(back.persons, r.master.persons);
}
