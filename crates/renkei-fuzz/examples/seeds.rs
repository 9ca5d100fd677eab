//! Writes the hand-made seed inputs into `fuzz/corpus/<target>/seed-*`, the starting
//! points of each fuzz target: `cargo run -p renkei-fuzz --example seeds`.

use std::path::PathBuf;

use prost::Message;
use renkei_proto::v1 as pb;

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    std::fs::write(dir.join(format!("seed-{name}")), data).expect("seed file");
}

fn with_mode(mode: u8, body: &[u8]) -> Vec<u8> {
    [&[mode][..], body].concat()
}

fn with_len(mode: u8, first: &[u8], rest: &[u8]) -> Vec<u8> {
    let len = u16::try_from(first.len())
        .expect("short seed")
        .to_be_bytes();
    [&[mode][..], &len, first, rest].concat()
}

fn main() {
    let envelope = pb::InquiryEnvelope {
        inquiry_id: "inq-1".into(),
        inquirer: "011002".into(),
        provider: "141003".into(),
        procedure: "P001".into(),
        item: 25,
        created_at_ms: 1,
        nonce: vec![7; 16],
        disclose_after_ms: 0,
    }
    .encode_to_vec();
    let permit = pb::Permit {
        permit_id: "pm-1".into(),
        inquiry_id: "inq-1".into(),
        inquirer: "011002".into(),
        provider: "141003".into(),
        procedure: "P001".into(),
        item: 25,
        provider_symbol: vec![1; 32],
        envelope_sha256: renkei_crypto::sha256(&envelope).to_vec(),
        issued_at_ms: 0,
        expires_at_ms: 4_102_444_800_000,
        master_version: 1,
    }
    .encode_to_vec();

    // proto_requests: the first byte picks the message type.
    let submit = pb::SubmitInquiryRequest {
        unified_address_number: "100".into(),
        provider: "141003".into(),
        procedure: "P001".into(),
        item: 25,
        idempotency_key: "k".into(),
        ..Default::default()
    }
    .encode_to_vec();
    write("proto_requests", "submit", &with_mode(41, &submit));
    let deliver = pb::DeliverInquiryRequest {
        envelope: envelope.clone(),
        ..Default::default()
    }
    .encode_to_vec();
    write("proto_requests", "deliver", &with_mode(7, &deliver));
    write("proto_requests", "envelope", &with_mode(45, &envelope));
    write("proto_requests", "permit", &with_mode(46, &permit));
    for i in 0..49u8 {
        write(
            "proto_requests",
            &format!("fields-{i}"),
            &with_mode(i, b"\x0a\x06011002\x10\x19\x1a\x02\x08\x01"),
        );
    }

    // permit_check: a permit signed in the target, and one as it arrives.
    write("permit_check", "signed", &with_len(1, &permit, &envelope));
    let unsigned = pb::SignedPermit {
        permit: permit.clone(),
        signature: vec![0; 64],
        key_id: vec![1; 8],
    }
    .encode_to_vec();
    write(
        "permit_check",
        "arrives",
        &with_len(0, &unsigned, &envelope),
    );

    // seal_check: a payload sealed in the target, undamaged and damaged.
    write(
        "seal_check",
        "sealed",
        &with_mode(1, b"vaccination history"),
    );
    write(
        "seal_check",
        "damaged",
        &with_mode(1, b"history\xff\x03\x01"),
    );
    let sealed = pb::SealedAnswer {
        permit_id: "pm-1".into(),
        inquirer: "011002".into(),
        provider: "141003".into(),
        ephemeral_public_key: vec![9; 32],
        ciphertext: vec![1; 40],
        signature: vec![2; 64],
    }
    .encode_to_vec();
    write("seal_check", "arrives", &with_mode(0, &sealed));

    // master_bundle: bytes signed in the target, a signed bundle as it arrives, TOML files.
    let agency = |code: &str| pb::Agency {
        code: code.into(),
        name: "札幌市".into(),
        kind: 1,
        ..Default::default()
    };
    let bundle = pb::MasterBundle {
        version: 3,
        agencies: vec![agency("011002"), agency("141003")],
        whitelist: vec![pb::WhitelistEntry {
            item: 25,
            procedure: "P001".into(),
            inquirer_kind: 1,
            provider_kind: 1,
            ..Default::default()
        }],
        ..Default::default()
    }
    .encode_to_vec();
    write("master_bundle", "signed", &with_mode(1, &bundle));
    let arrives = pb::SignedMasterBundle {
        bundle: bundle.clone(),
        signature: vec![0; 64],
        key_id: vec![0; 8],
    }
    .encode_to_vec();
    write("master_bundle", "arrives", &with_mode(0, &arrives));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/master");
    let agencies = std::fs::read(root.join("agencies.toml")).expect("deploy/master/agencies.toml");
    let whitelist = std::fs::read(root.join("whitelist.toml")).expect("whitelist.toml");
    // Key paths would not resolve in the fuzz directory; keep the rows, drop the keys.
    let agencies: Vec<u8> = String::from_utf8_lossy(&agencies)
        .lines()
        .filter(|l| !l.contains("public_key") && !l.starts_with("endpoint"))
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    write(
        "master_bundle",
        "toml",
        &[&[2u8][..], &agencies, b"\xff", &whitelist].concat(),
    );

    // ledger_segment: the real writer's segment, whole, damaged and cut.
    write("ledger_segment", "template", &[1]);
    write("ledger_segment", "damaged", &[1, 3, 0x10, 20, 0x01]);
    write("ledger_segment", "cut", &[1, 0xFF, 200]);
    write("ledger_segment", "magic", b"\x00RNKLOG\x00\x03");

    // vaccination_csv and vaccination_fhir.
    let header = "宛名番号,統合宛名番号,氏名,氏名カナ,生年月日,性別,ワクチンコード,接種回数,接種日,接種日不明,ロット番号,メーカー,医療機関コード,市外フラグ,備考";
    let csv = format!(
        "{header}\nA1,100,佐藤　蓮,サトウ　レン,2020-01-10,1,MR,1,2021-03-01,0,AB1,,1410000001,0,\nA2,200,田中,タナカ,2019-05-05,2,HIB,1,,1,,,,0,\n"
    );
    write("vaccination_csv", "utf8", &with_mode(1, csv.as_bytes()));
    write(
        "vaccination_csv",
        "short",
        &with_mode(
            0,
            "統合宛名番号,ワクチンコード,接種回数\n100,MR,1\n".as_bytes(),
        ),
    );
    let fhir = r#"{"resourceType":"Bundle","type":"collection","entry":[
{"fullUrl":"urn:uuid:p1","resource":{"resourceType":"Patient","identifier":[{"system":"http://renkei.invalid/fhir/NamingSystem/unified-address-number/141003","value":"100"}],"name":[{"text":"佐藤　蓮"}],"gender":"male","birthDate":"2020-01-10"}},
{"fullUrl":"urn:uuid:i1","resource":{"resourceType":"Immunization","status":"completed","vaccineCode":{"coding":[{"system":"VACCINE","code":"MR"}]},"patient":{"reference":"urn:uuid:p1"},"occurrenceDateTime":"2021-03-01","protocolApplied":[{"doseNumberPositiveInt":1}]}}]}"#
        .replace("VACCINE", renkei_vaccination::fhir::VACCINE_SYSTEM);
    write("vaccination_fhir", "bundle", fhir.as_bytes());
}
