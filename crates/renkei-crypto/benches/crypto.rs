//! Micro-benchmarks of the cryptography every exchange performs: the floor under
//! `renkei bench e2e`. Run with `cargo bench -p renkei-crypto`.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use prost::Message;
use renkei_core::{AgencyCode, MyNumber};
use renkei_crypto::{
    AnswerContext, EncryptionKey, SigningKey, SymbolKey, open_answer, seal_answer, sign_permit,
    verify_permit,
};
use renkei_proto::v1::{AnswerPayload, Permit};

fn answer(c: &mut Criterion) {
    let inquirer = EncryptionKey::generate().unwrap();
    let (provider, _) = SigningKey::generate().unwrap();
    let vk = provider.public_key();
    let ctx = AnswerContext {
        permit_id: "pmt-01a2082d784496a47638eb4ddf50".into(),
        inquirer: "011002".into(),
        provider: "141003".into(),
    };
    let mut payload = AnswerPayload {
        permit_id: ctx.permit_id.clone(),
        ..Default::default()
    };
    renkei_crypto::pad_answer_payload(&mut payload);
    let bytes = payload.encode_to_vec();
    let recipient = inquirer.public_key();
    c.bench_function("seal_answer (2 KiB padded)", |b| {
        b.iter(|| seal_answer(&bytes, &ctx, &recipient, &provider).unwrap())
    });
    let sealed = seal_answer(&bytes, &ctx, &recipient, &provider).unwrap();
    c.bench_function("open_answer (verify + decrypt)", |b| {
        b.iter(|| open_answer(&sealed, &ctx, &inquirer, &vk).unwrap())
    });
}

fn permits(c: &mut Criterion) {
    let (hub, _) = SigningKey::generate().unwrap();
    let vk = hub.public_key();
    let permit = Permit {
        permit_id: "pmt-01a2082d784496a47638eb4ddf50".into(),
        inquiry_id: "inq-01a2082d7844473ef8ead1787f51".into(),
        inquirer: "011002".into(),
        provider: "141003".into(),
        procedure: "vaccination".into(),
        item: 25,
        provider_symbol: vec![1; 45],
        envelope_sha256: vec![2; 32],
        issued_at_ms: 1,
        expires_at_ms: 2,
        master_version: 3,
    };
    c.bench_function("sign_permit", |b| b.iter(|| sign_permit(&hub, &permit)));
    let signed = sign_permit(&hub, &permit);
    c.bench_function("verify_permit", |b| {
        b.iter(|| verify_permit(&vk, &signed).unwrap())
    });
}

fn symbols(c: &mut Criterion) {
    let key = SymbolKey::generate().unwrap();
    let my = MyNumber::parse(&MyNumber::complete("12345678901").unwrap()).unwrap();
    let a = AgencyCode::parse("011002").unwrap();
    let b_code = AgencyCode::parse("141003").unwrap();
    c.bench_function("symbol_for (person id + SIV encrypt)", |b| {
        b.iter(|| key.symbol_for(&a, &my))
    });
    let s = key.symbol_for(&a, &my);
    c.bench_function("translate symbol between agencies", |b| {
        b.iter(|| key.translate(&a, &s, &b_code).unwrap())
    });
}

criterion_group!(benches, answer, permits, symbols);
criterion_main!(benches);
