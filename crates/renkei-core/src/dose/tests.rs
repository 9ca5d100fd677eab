//! The test vectors of the one dose check: the gateway's and the adapter's tests check
//! only that they call it and word its problems; the rules are pinned here.

use super::*;
use time::macros::date;

const TODAY: time::Date = date!(2026 - 11 - 23);

fn good<'a>() -> DoseInput<'a> {
    DoseInput {
        vaccine: "MR",
        dose_number: DoseNumber::Text("1"),
        date: "2021-03-01",
        date_unknown: false,
        lot: "AB1",
        maker: "第一三共",
        institution: "",
        remarks: "",
    }
}

fn rules(forms: DateForms) -> DoseRules {
    DoseRules {
        today: TODAY,
        birth: Some(date!(2020 - 01 - 10)),
        date_forms: forms,
    }
}

const WORDS: DoseWords = DoseWords {
    date_unknown: "接種日不明",
    unknown_date_hint: "set 接種日不明 to 1",
};

#[test]
fn a_good_dose_passes_with_what_was_learnt() {
    let d = check_dose(&good(), &rules(DateForms::Iso)).unwrap();
    assert_eq!(d.vaccine.code, "MR");
    assert_eq!(d.dose_number, 1);
    assert_eq!(d.date, Some(date!(2021 - 03 - 01)));

    let unknown = DoseInput {
        vaccine: "BCG",
        dose_number: DoseNumber::Number(1),
        date: "",
        date_unknown: true,
        ..good()
    };
    let d = check_dose(&unknown, &rules(DateForms::Iso)).unwrap();
    assert_eq!(d.date, None);

    // The edges that are still good.
    for input in [
        DoseInput {
            date: "2026-11-23",
            ..good()
        },
        DoseInput {
            date: "2020-01-10",
            ..good()
        },
        DoseInput {
            dose_number: DoseNumber::Text("2"),
            ..good()
        },
        DoseInput {
            institution: "1234567890",
            ..good()
        },
        DoseInput {
            lot: &"L".repeat(MAX_LOT_CHARS),
            maker: &"メ".repeat(MAX_MAKER_CHARS),
            remarks: &"備".repeat(MAX_REMARKS_CHARS),
            ..good()
        },
    ] {
        assert!(
            check_dose(&input, &rules(DateForms::Iso)).is_ok(),
            "{input:?}"
        );
    }
}

#[test]
fn each_rule_names_its_field_and_reason() {
    let long_lot = "L".repeat(MAX_LOT_CHARS + 1);
    let long_maker = "メ".repeat(MAX_MAKER_CHARS + 1);
    let long_remarks = "備".repeat(MAX_REMARKS_CHARS + 1);
    let mr = vaccines::lookup("MR").unwrap();
    // (input, the field, the reason, words of the description)
    let cases: Vec<(DoseInput<'_>, DoseField, DoseReason, &str)> = vec![
        (
            DoseInput {
                vaccine: "XX",
                ..good()
            },
            DoseField::Vaccine,
            DoseReason::UnknownVaccine { given: "XX".into() },
            "\"XX\" is not a known vaccine code",
        ),
        (
            DoseInput {
                vaccine: "mr",
                ..good()
            },
            DoseField::Vaccine,
            DoseReason::UnknownVaccine { given: "mr".into() },
            "not a known vaccine code",
        ),
        (
            DoseInput {
                dose_number: DoseNumber::Text("3"),
                ..good()
            },
            DoseField::DoseNumber,
            DoseReason::DoseNumberOutOfRange {
                given: "\"3\"".into(),
                vaccine: mr,
            },
            "\"3\" for MR (麻しん風しん混合) must be 1 to 2",
        ),
        (
            DoseInput {
                dose_number: DoseNumber::Text("一"),
                ..good()
            },
            DoseField::DoseNumber,
            DoseReason::DoseNumberOutOfRange {
                given: "\"一\"".into(),
                vaccine: mr,
            },
            "1 to 2",
        ),
        (
            DoseInput {
                dose_number: DoseNumber::Number(0),
                ..good()
            },
            DoseField::DoseNumber,
            DoseReason::DoseNumberOutOfRange {
                given: "0".into(),
                vaccine: mr,
            },
            "0 for MR (麻しん風しん混合) must be 1 to 2",
        ),
        (
            DoseInput {
                date_unknown: true,
                ..good()
            },
            DoseField::Date,
            DoseReason::DateGivenButUnknown,
            "must be empty when the date is marked unknown (接種日不明)",
        ),
        (
            DoseInput { date: "", ..good() },
            DoseField::Date,
            DoseReason::NoDate,
            "is empty; set 接種日不明 to 1 for a dose of unknown date",
        ),
        (
            DoseInput {
                date: "2023-02-30",
                ..good()
            },
            DoseField::Date,
            DoseReason::NotADate {
                given: "2023-02-30".into(),
                forms: DateForms::Iso,
            },
            "\"2023-02-30\" is not a date (YYYY-MM-DD)",
        ),
        (
            DoseInput {
                date: "21-3-1",
                ..good()
            },
            DoseField::Date,
            DoseReason::NotADate {
                given: "21-3-1".into(),
                forms: DateForms::Iso,
            },
            "is not a date",
        ),
        (
            DoseInput {
                date: "2026-11-24",
                ..good()
            },
            DoseField::Date,
            DoseReason::InFuture(date!(2026 - 11 - 24)),
            "2026-11-24 is in the future",
        ),
        (
            DoseInput {
                date: "2019-12-31",
                ..good()
            },
            DoseField::Date,
            DoseReason::BeforeBirth {
                date: date!(2019 - 12 - 31),
                birth: date!(2020 - 01 - 10),
            },
            "2019-12-31 is before the person's birth date 2020-01-10",
        ),
        (
            DoseInput {
                institution: "12345",
                ..good()
            },
            DoseField::Institution,
            DoseReason::InstitutionCode {
                given: "12345".into(),
            },
            "\"12345\" must be empty or 10 digits (医療機関コード)",
        ),
        (
            DoseInput {
                institution: "12345678９0",
                ..good()
            },
            DoseField::Institution,
            DoseReason::InstitutionCode {
                given: "12345678９0".into(),
            },
            "10 digits",
        ),
        (
            DoseInput {
                lot: &long_lot,
                ..good()
            },
            DoseField::Lot,
            DoseReason::TooLong { max: 20 },
            "is longer than 20 characters",
        ),
        (
            DoseInput {
                maker: &long_maker,
                ..good()
            },
            DoseField::Maker,
            DoseReason::TooLong { max: 40 },
            "longer than 40",
        ),
        (
            DoseInput {
                remarks: &long_remarks,
                ..good()
            },
            DoseField::Remarks,
            DoseReason::TooLong { max: 200 },
            "longer than 200",
        ),
        (
            DoseInput {
                maker: "第一\u{7}三共",
                ..good()
            },
            DoseField::Maker,
            DoseReason::ControlCharacters,
            "contains control characters",
        ),
        (
            DoseInput {
                remarks: "a\nb",
                ..good()
            },
            DoseField::Remarks,
            DoseReason::ControlCharacters,
            "control characters",
        ),
    ];
    for (input, field, reason, words) in cases {
        let p = check_dose(&input, &rules(DateForms::Iso)).unwrap_err();
        assert_eq!(p.field, field, "{input:?}");
        assert_eq!(p.reason, reason, "{input:?}");
        let text = p.describe(&WORDS);
        assert!(text.contains(words), "{text:?} should say {words:?}");
    }
}

#[test]
fn before_1900_is_refused_when_no_birth_date_is_known() {
    let r = DoseRules {
        birth: None,
        ..rules(DateForms::Iso)
    };
    let p = check_dose(
        &DoseInput {
            date: "1899-12-31",
            ..good()
        },
        &r,
    )
    .unwrap_err();
    assert_eq!(p.reason, DoseReason::Before1900(date!(1899 - 12 - 31)));
    // Without a birth date, any day from 1900 to today is possible.
    let d = DoseInput {
        date: "1900-01-01",
        ..good()
    };
    assert!(check_dose(&d, &r).is_ok());
}

#[test]
fn export_spellings_of_a_date_pass_only_where_exports_are_read() {
    for spelling in ["20210301", "2021/03/01"] {
        let input = DoseInput {
            date: spelling,
            ..good()
        };
        let d = check_dose(&input, &rules(DateForms::Export)).unwrap();
        assert_eq!(d.date, Some(date!(2021 - 03 - 01)));
        let p = check_dose(&input, &rules(DateForms::Iso)).unwrap_err();
        assert_eq!(
            p.reason,
            DoseReason::NotADate {
                given: spelling.into(),
                forms: DateForms::Iso
            }
        );
    }
    for bad in [
        "2021-03/01",
        "2021030",
        "20210231",
        "2021/13/01",
        "２０２１0301",
    ] {
        assert_eq!(parse_date(bad, DateForms::Export), None, "{bad}");
    }
    let p = check_dose(
        &DoseInput {
            date: "2021.03.01",
            ..good()
        },
        &rules(DateForms::Export),
    )
    .unwrap_err();
    assert!(
        p.describe(&WORDS)
            .contains("(YYYY-MM-DD, YYYYMMDD or YYYY/MM/DD)")
    );
}

#[test]
fn rejected_values_are_echoed_cut_short() {
    let long = "X".repeat(1000);
    let p = check_dose(
        &DoseInput {
            vaccine: &long,
            ..good()
        },
        &rules(DateForms::Iso),
    )
    .unwrap_err();
    assert_eq!(
        p.reason,
        DoseReason::UnknownVaccine {
            given: "X".repeat(20)
        }
    );
    for input in [
        DoseInput {
            date: &long,
            ..good()
        },
        DoseInput {
            institution: &long,
            ..good()
        },
        DoseInput {
            dose_number: DoseNumber::Text(&long),
            ..good()
        },
    ] {
        let text = check_dose(&input, &rules(DateForms::Iso))
            .unwrap_err()
            .describe(&WORDS);
        assert!(!text.contains(&"X".repeat(21)), "{text}");
        assert!(text.contains(&"X".repeat(20)), "{text}");
    }
}

#[test]
fn the_first_item_at_fault_is_reported() {
    let p = check_dose(
        &DoseInput {
            vaccine: "XX",
            dose_number: DoseNumber::Text("0"),
            date: "x",
            institution: "1",
            ..good()
        },
        &rules(DateForms::Iso),
    )
    .unwrap_err();
    assert_eq!(p.field, DoseField::Vaccine);
    let p = check_dose(
        &DoseInput {
            date: "x",
            institution: "1",
            ..good()
        },
        &rules(DateForms::Iso),
    )
    .unwrap_err();
    assert_eq!(p.field, DoseField::Date);
    // A text item both too long and holding a control character: the control character.
    let lot = format!("{}\u{1}", "L".repeat(30));
    let p = check_dose(
        &DoseInput {
            lot: &lot,
            ..good()
        },
        &rules(DateForms::Iso),
    )
    .unwrap_err();
    assert_eq!(p.reason, DoseReason::ControlCharacters);
}

#[test]
fn doses_of_unknown_date_are_the_same_dose_when_vaccine_and_number_agree() {
    let known = DoseIdentity::of("MR", 1, "2021-03-01", false);
    assert_eq!(known, DoseIdentity::of("MR", 1, "2021-03-01", false));
    assert_ne!(known, DoseIdentity::of("MR", 1, "2021-03-02", false));
    assert_ne!(known, DoseIdentity::of("MR", 2, "2021-03-01", false));
    assert_ne!(known, DoseIdentity::of("BCG", 1, "2021-03-01", false));
    let unknown = DoseIdentity::of("BCG", 1, "", true);
    assert_eq!(unknown, DoseIdentity::of("BCG", 1, "", true));
    assert_ne!(unknown, DoseIdentity::of("BCG", 1, "", false));
    assert_ne!(unknown, DoseIdentity::of("BCG", 2, "", true));
}
