//! The local formats: every bad-row case of the ledger CSV, encodings, FHIR output
//! against the official FHIR R4 JSON schema, and round trips through each format.
#![allow(clippy::unwrap_used)]

use renkei_vaccination::generate::{GenOptions, GenSinks, generate};
use renkei_vaccination::ledger::{ReadOptions, read_ledger, read_ledger_bytes, write_ledger};
use renkei_vaccination::text::{TextEncoding, decode, encode_shift_jis};
use renkei_vaccination::{InputFormat, VaccinationError, fhir};
use serde_json::{Value, json};

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

/// A Shift_JIS file larger than the decoder's 1 MiB buffer, read from disk (so through the
/// streaming decoder, whole and person by person): every row's line is right across the
/// buffer boundaries, the rows with an invalid byte or a bad date are reported at their
/// lines, and every good row is kept.
#[test]
fn a_large_shift_jis_ledger_is_streamed_and_its_bad_rows_are_reported_where_they_are() {
    let mut bytes = encode_shift_jis(&format!("{HEADER}\n")).unwrap();
    let (mut n, mut line) = (0u64, 1u64);
    let mut bad_lines = Vec::new();
    while bytes.len() < 2_500_000 {
        n += 1;
        line += 1;
        let uan = (1_000 + n).to_string();
        if n % 4000 == 0 {
            // An invalid double byte (0x85 0x40) in 氏名.
            let mut bad = encode_shift_jis(&format!("A{n},{uan},")).unwrap();
            bad.extend_from_slice(b"\x85\x40");
            bad.extend_from_slice(
                &encode_shift_jis(",タナカ,2019-05-05,2,MR,1,2021-03-01,0,,,,0,\n").unwrap(),
            );
            bytes.extend_from_slice(&bad);
            bad_lines.push((line, "氏名"));
        } else if n % 4000 == 2000 {
            let r = row(&uan, "MR", "1", "2023-02-30", "0");
            bytes.extend_from_slice(&encode_shift_jis(&format!("{r}\n")).unwrap());
            bad_lines.push((line, "接種日"));
        } else {
            let r = row(&uan, "MR", "1", "2021-03-01", "0");
            bytes.extend_from_slice(&encode_shift_jis(&format!("{r}\n")).unwrap());
        }
    }
    assert!(bad_lines.len() >= 6, "{bad_lines:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sjis.csv");
    std::fs::write(&path, &bytes).unwrap();
    let good = n - bad_lines.len() as u64;
    let found = |errors: &[renkei_vaccination::RowError]| -> Vec<(u64, String)> {
        errors
            .iter()
            .map(|e| (e.line, e.column.clone().unwrap_or_default()))
            .collect()
    };
    let want: Vec<(u64, String)> = bad_lines
        .iter()
        .map(|(l, c)| (*l, (*c).to_owned()))
        .collect();

    let r = read_ledger(&path, &opts()).unwrap();
    assert_eq!(r.encoding, Some(TextEncoding::ShiftJis));
    assert_eq!(r.master.persons.len() as u64, good);
    assert_eq!(found(&r.errors), want);
    let p = r.master.persons.get("1001").unwrap();
    assert_eq!(p.info.name, "佐藤　蓮");

    let mut streamed = 0u64;
    let s = renkei_vaccination::ledger::stream_ledger(&path, &opts(), |_, p| {
        assert_eq!(p.info.name_kana, "サトウ　レン");
        streamed += 1;
        true
    })
    .unwrap();
    assert_eq!(streamed, good);
    assert_eq!(s.rows, n);
    assert_eq!(found(&s.errors), want);
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

    // Read back as an input: the same persons, nothing reported.
    let text = serde_json::to_vec(&bundle).unwrap();
    let back = fhir::read_bundle_bytes("gen.json", &text, &opts(), TextEncoding::Utf8).unwrap();
    assert!(back.errors.is_empty(), "{:?}", back.errors.first());
    assert!(back.skipped.is_empty());
    assert_eq!(back.master.persons, r.master.persons);
}

const P1: &str = "urn:uuid:00000000-0000-5000-8000-000000000001";
const P2: &str = "urn:uuid:00000000-0000-5000-8000-000000000002";
const UAN_SYSTEM: &str = "http://renkei.invalid/fhir/NamingSystem/unified-address-number/141003";
const LOCAL_SYSTEM: &str = "http://renkei.invalid/fhir/NamingSystem/address-number/141003";

fn patient_entry(url: &str, uan: &str) -> Value {
    json!({"fullUrl": url, "resource": {
        "resourceType": "Patient",
        "identifier": [{"system": UAN_SYSTEM, "value": uan}],
        "name": [{"text": "佐藤　蓮"}],
        "gender": "male",
        "birthDate": "2020-01-10",
    }})
}

fn imm_entry(patient: &str, code: &str, dose: u32, date: &str) -> Value {
    json!({"fullUrl": format!("urn:uuid:imm-{code}-{dose}-{date}"), "resource": {
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": {"coding": [{"system": fhir::VACCINE_SYSTEM, "code": code}]},
        "patient": {"reference": patient},
        "occurrenceDateTime": date,
        "protocolApplied": [{"doseNumberPositiveInt": dose}],
        "lotNumber": "AB123C",
        "performer": [{"actor": {"identifier": {"system": fhir::INSTITUTION_SYSTEM, "value": "1410000001"}}}],
    }})
}

/// A good Immunization of P1, changed by `f`.
fn imm_with(f: impl FnOnce(&mut Value)) -> Value {
    let mut e = imm_entry(P1, "MR", 2, "2022-03-01");
    f(&mut e["resource"]);
    e
}

fn patient_with(url: &str, f: impl FnOnce(&mut Value)) -> Value {
    let mut e = patient_entry(url, "300");
    f(&mut e["resource"]);
    e
}

#[test]
fn each_bad_fhir_entry_is_reported_with_its_entry_line_element_and_reason_and_good_entries_are_kept()
 {
    let mut entries: Vec<Value> = Vec::new();
    // Good: an Immunization before its Patient, a Patient referred to by id, a dateTime with
    // a time, a dose of unknown date, a person given by the system's own number.
    entries.push(imm_entry("Patient/p2", "HIB", 1, "2020-03-10"));
    entries.push(patient_entry(P1, "100"));
    let mut p2 = patient_entry("urn:uuid:other", "200");
    p2["resource"]["id"] = json!("p2");
    entries.push(p2);
    let mr1 = entries.len();
    entries.push(imm_entry(P1, "MR", 1, "2021-03-01T10:00:00+09:00"));
    let mut bcg = imm_entry(P1, "BCG", 1, "");
    bcg["resource"]
        .as_object_mut()
        .unwrap()
        .remove("occurrenceDateTime");
    bcg["resource"]["occurrenceString"] = json!("接種日不明");
    entries.push(bcg);
    entries.push(json!({"fullUrl": "urn:uuid:mapped", "resource": {
        "resourceType": "Patient",
        "identifier": [{"system": LOCAL_SYSTEM, "value": "A7"}],
    }}));
    entries.push(imm_entry("urn:uuid:mapped", "JE", 1, "2022-06-01"));
    // Passed over, not errors.
    entries.push(json!({"resource": {"resourceType": "Observation", "status": "final"}}));
    entries.push(json!({"request": {"method": "DELETE", "url": "Patient/x"}}));
    entries.push(imm_with(|r| r["status"] = json!("not-done")));

    // (entry, the element named, a word of the reason)
    let mut cases: Vec<(Value, Option<&str>, &str)> = vec![
        (
            imm_with(|r| r["vaccineCode"]["coding"][0]["code"] = json!("XX")),
            Some("Immunization.vaccineCode"),
            "not a known vaccine",
        ),
        (
            imm_with(|r| {
                r["vaccineCode"]["coding"][0]["system"] = json!("urn:oid:1.2.392.200119.4.403.1")
            }),
            Some("Immunization.vaccineCode"),
            "no coding",
        ),
        (
            imm_with(|r| r["protocolApplied"][0]["doseNumberPositiveInt"] = json!(3)),
            Some("Immunization.protocolApplied.doseNumber[x]"),
            "1 to 2",
        ),
        (
            imm_with(|r| r["protocolApplied"][0]["doseNumberPositiveInt"] = json!("two")),
            Some("Immunization.protocolApplied.doseNumber[x]"),
            "positive integer",
        ),
        (
            imm_with(|r| {
                r.as_object_mut().unwrap().remove("protocolApplied");
            }),
            Some("Immunization.protocolApplied.doseNumber[x]"),
            "is missing",
        ),
        (
            imm_with(|r| r["occurrenceDateTime"] = json!("2023-02-30")),
            Some("Immunization.occurrenceDateTime"),
            "not a date",
        ),
        (
            imm_with(|r| r["occurrenceDateTime"] = json!("2021-03")),
            Some("Immunization.occurrenceDateTime"),
            "does not name a day",
        ),
        (
            imm_with(|r| r["occurrenceDateTime"] = json!("2099-01-01")),
            Some("Immunization.occurrenceDateTime"),
            "future",
        ),
        (
            imm_with(|r| r["occurrenceDateTime"] = json!("2019-12-31")),
            Some("Immunization.occurrenceDateTime"),
            "before the person's birth",
        ),
        (
            imm_with(|r| r["occurrenceDateTime"] = json!("1899-12-31")),
            Some("Immunization.occurrenceDateTime"),
            "before 1900",
        ),
        (
            imm_with(|r| {
                r.as_object_mut().unwrap().remove("occurrenceDateTime");
            }),
            Some("Immunization.occurrenceDateTime"),
            "occurrenceString",
        ),
        (
            imm_with(|r| r["occurrenceString"] = json!("接種日不明")),
            Some("Immunization.occurrence[x]"),
            "both",
        ),
        (
            imm_with(|r| r["performer"][0]["actor"]["identifier"]["value"] = json!("12345")),
            Some("Immunization.performer.actor.identifier"),
            "10 digits",
        ),
        (
            imm_with(|r| r["lotNumber"] = json!("L".repeat(21))),
            Some("Immunization.lotNumber"),
            "longer than 20",
        ),
        (
            imm_with(|r| r["lotNumber"] = json!(42)),
            Some("Immunization.lotNumber"),
            "must be a string",
        ),
        (
            imm_with(|r| r["manufacturer"] = json!({"display": "第一\u{7}三共"})),
            Some("Immunization.manufacturer.display"),
            "control characters",
        ),
        (
            imm_with(|r| {
                r.as_object_mut().unwrap().remove("status");
            }),
            Some("Immunization.status"),
            "is missing",
        ),
        (
            imm_with(|r| r["status"] = json!("done")),
            Some("Immunization.status"),
            "not a status",
        ),
        (
            imm_with(|r| r["patient"]["reference"] = json!("urn:uuid:nobody")),
            Some("Immunization.patient.reference"),
            "is not the fullUrl",
        ),
        (
            imm_with(|r| {
                r["extension"] = json!([{"url": fhir::OUTSIDE_CITY_URL, "valueBoolean": "yes"}])
            }),
            Some("Immunization.extension (outside-city)"),
            "boolean",
        ),
        (
            json!({"resource": {"status": "completed"}}),
            Some("resource.resourceType"),
            "is missing",
        ),
        (json!(42), None, "not an entry object"),
        // A duplicate of a good dose, reported against the entry of the first.
        (
            imm_entry(P1, "MR", 1, "2021-03-01"),
            None,
            "duplicates Bundle.entry[",
        ),
        // Bad Patients.
        (
            patient_with("urn:uuid:bad-uan", |r| {
                r["identifier"][0]["value"] = json!("12a")
            }),
            Some("Patient.identifier (unified-address-number)"),
            "digits",
        ),
        (
            patient_with("urn:uuid:no-id", |r| {
                r.as_object_mut().unwrap().remove("identifier");
            }),
            Some("Patient.identifier (unified-address-number)"),
            "names no person",
        ),
        (
            patient_with("urn:uuid:unmapped", |r| {
                r["identifier"] = json!([{"system": LOCAL_SYSTEM, "value": "A9"}])
            }),
            Some("Patient.identifier (address-number)"),
            "A9 is not in the mapping file",
        ),
        (
            patient_with("urn:uuid:bad-gender", |r| r["gender"] = json!("M")),
            Some("Patient.gender"),
            "not a FHIR gender",
        ),
        (
            patient_with("urn:uuid:bad-birth", |r| {
                r["birthDate"] = json!("2020-13-10")
            }),
            Some("Patient.birthDate"),
            "not a full date",
        ),
        (
            patient_with("urn:uuid:same-person", |r| {
                r["identifier"][0]["value"] = json!("100")
            }),
            Some("Patient.identifier (unified-address-number)"),
            "also the person of the Patient of Bundle.entry[1]",
        ),
        (patient_with(P1, |_| {}), Some("fullUrl"), "same fullUrl"),
        // The doses of a Patient left out are reported too, each naming the Patient's entry.
        (
            imm_entry("urn:uuid:bad-uan", "MR", 1, "2021-03-01"),
            Some("Immunization.patient.reference"),
            "was left out",
        ),
        (
            imm_entry("urn:uuid:bad-birth", "MR", 1, "2021-03-01"),
            Some("Immunization.patient.reference"),
            "was left out",
        ),
    ];
    let first_case = entries.len();
    entries.extend(cases.iter_mut().map(|c| c.0.take()));
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": entries});
    let text = serde_json::to_string_pretty(&bundle).unwrap();
    // The line each entry starts on: array items are the only lines indented by 4.
    let starts: Vec<u64> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("    ") && !l[4..].starts_with([' ', '}', ']']))
        .map(|(i, _)| i as u64 + 1)
        .collect();
    assert_eq!(starts.len(), entries.len());

    let mapping = std::collections::HashMap::from([("A7".to_owned(), "700".to_owned())]);
    let o = ReadOptions {
        mapping: Some(mapping),
        ..opts()
    };
    let r = fhir::read_bundle_bytes("b.json", text.as_bytes(), &o, TextEncoding::Utf8).unwrap();
    assert_eq!(r.rows as usize, entries.len());
    assert_eq!(r.errors.len(), cases.len(), "{:#?}", r.errors);
    for (k, (_, element, word)) in cases.iter().enumerate() {
        let i = (first_case + k) as u64;
        let e = r
            .errors
            .iter()
            .find(|e| e.entry == Some(i))
            .unwrap_or_else(|| panic!("entry {i} ({word}) not reported: {:#?}", r.errors));
        assert_eq!(e.file, "b.json");
        assert_eq!(e.line, starts[i as usize], "{e}");
        assert_eq!(e.column.as_deref(), *element, "{e}");
        assert!(e.reason.contains(word), "{e} should say {word:?}");
    }
    let dup = r
        .errors
        .iter()
        .find(|e| e.reason.contains("duplicates"))
        .unwrap();
    assert!(
        dup.reason.contains(&format!("Bundle.entry[{mr1}]")),
        "{dup}"
    );
    assert!(dup.to_string().starts_with("b.json:"), "{dup}");

    // The good entries went ahead, and only they.
    let m = &r.master.persons;
    assert_eq!(m.keys().collect::<Vec<_>>(), ["100", "200", "700"]);
    let p1 = &m["100"];
    assert_eq!(p1.info.name, "佐藤　蓮");
    assert_eq!(p1.info.birth_date, "2020-01-10");
    assert_eq!(p1.doses.len(), 2);
    assert_eq!(p1.doses[0].date, "2021-03-01");
    assert_eq!(p1.doses[0].institution_code, "1410000001");
    assert!(p1.doses[1].date_unknown && p1.doses[1].vaccine_code == "BCG");
    assert_eq!(m["200"].doses[0].vaccine_code, "HIB");
    assert_eq!(m["700"].info.local_number, "A7");
    assert_eq!(m["700"].doses.len(), 1);
    assert_eq!(r.master.dose_count(), 4);
    let skipped: Vec<(&str, u64)> = r.skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        skipped,
        [
            ("Immunization with status not-done", 1),
            ("Observation", 1),
            ("entry without a resource", 1)
        ]
    );
}

#[test]
fn a_fhir_file_with_or_without_bom_or_in_shift_jis_reads_alike_and_a_non_bundle_fails_whole() {
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        patient_entry(P1, "100"),
        imm_entry(P1, "MR", 1, "2021-03-01"),
        patient_entry(P2, "200"),
        imm_entry(P2, "JE", 1, "2022-06-01"),
    ]});
    let text = serde_json::to_string_pretty(&bundle).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.json");
    let bom = dir.path().join("bom.fhir");
    let sjis = dir.path().join("sjis.txt");
    std::fs::write(&plain, &text).unwrap();
    std::fs::write(&bom, [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat()).unwrap();
    std::fs::write(&sjis, encode_shift_jis(&text).unwrap()).unwrap();
    let mut masters = Vec::new();
    for p in [&plain, &bom, &sjis] {
        // auto picks FHIR by the .json name, or by the leading `{` (after a BOM).
        let (r, format) =
            renkei_vaccination::input::read_records(p, InputFormat::Auto, &opts()).unwrap();
        assert_eq!(format, InputFormat::Fhir, "{}", p.display());
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.master.persons.len(), 2);
        masters.push(r.master.persons);
    }
    assert_eq!(masters[0], masters[1]);
    assert_eq!(masters[0], masters[2]);
    assert_eq!(masters[2]["100"].info.name, "佐藤　蓮");

    let whole = |name: &str, content: &str| -> String {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        match renkei_vaccination::input::read_records(&p, InputFormat::Fhir, &opts()) {
            Err(e @ VaccinationError::Format { .. }) => e.to_string(),
            other => panic!("{name}: expected a whole-file error, got {other:?}"),
        }
    };
    let e = whole("cut.json", &text[..text.len() / 2]);
    assert!(
        e.contains("cut.json") && e.contains("not a FHIR JSON Bundle") && e.contains("line"),
        "{e}"
    );
    let e = whole(
        "patient.json",
        &patient_entry(P1, "100")["resource"].to_string(),
    );
    assert!(e.contains("resourceType is \"Patient\", not Bundle"), "{e}");
    let e = whole("array.json", "[1, 2]");
    assert!(e.contains("not a FHIR JSON Bundle"), "{e}");
    // A CSV is still read as a CSV under auto.
    let csv = dir.path().join("ledger.csv");
    std::fs::write(
        &csv,
        format!("{HEADER}\n{}\n", row("100", "MR", "1", "2021-03-01", "0")),
    )
    .unwrap();
    let (r, format) =
        renkei_vaccination::input::read_records(&csv, InputFormat::Auto, &opts()).unwrap();
    assert_eq!(format, InputFormat::Csv);
    assert_eq!(r.master.persons.len(), 1);
}

#[test]
fn a_generated_city_reads_the_same_from_its_csv_and_from_its_fhir_bundle() {
    let (ledger, s) = generated(3000, true);
    let csv = read_ledger_bytes("gen.csv", &ledger, &opts(), TextEncoding::Utf8).unwrap();
    assert_eq!(csv.errors.len() as u64, s.bad_rows);
    let bundle = serde_json::to_vec_pretty(&fhir::to_bundle("141003", &csv.master)).unwrap();
    let f = fhir::read_bundle_bytes("gen.json", &bundle, &opts(), TextEncoding::Utf8).unwrap();
    assert!(f.errors.is_empty(), "{:?}", f.errors.first());
    assert_eq!(f.master.persons.len() as u64, s.persons_with_records);
    assert_eq!(f.master.persons, csv.master.persons);
}
