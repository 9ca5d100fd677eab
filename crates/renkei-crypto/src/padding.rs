//! Answer padding, so that the size of a sealed answer says nothing about the record except
//! its size bucket. An empty "no data" answer and a short history land in the same bucket.

use prost::Message;
use renkei_proto::v1::AnswerPayload;

const SMALL_BUCKETS: [usize; 7] = [1024, 2048, 4096, 8192, 16384, 32768, 65536];
const LARGE_STEP: usize = 65536;

fn bucket_for(len: usize) -> usize {
    SMALL_BUCKETS
        .iter()
        .copied()
        .find(|b| *b >= len)
        .unwrap_or_else(|| len.div_ceil(LARGE_STEP) * LARGE_STEP)
}

/// Bytes the `padding` field costs on the wire with `len` bytes of padding: its tag, the
/// varint of its length, and the padding itself; nothing when empty.
fn field_cost(len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    1 + prost::encoding::encoded_len_varint(len as u64) + len
}

/// The padding length whose field costs exactly `need` bytes, if one exists. Some costs
/// cannot be hit (1, and the values where the length's varint grows by a byte, e.g. 130).
fn padding_for(need: usize) -> Option<usize> {
    if need == 0 {
        return Some(0);
    }
    (1..=10)
        .filter_map(|varint| need.checked_sub(1 + varint))
        .find(|&len| len > 0 && field_cost(len) == need)
}

/// Sets `payload.padding` so the encoded payload is exactly a bucket size.
///
/// Computed, not searched: a search that steps the length by one byte can oscillate for
/// ever where the length prefix grows (that was a real hang). When no padding length hits a
/// bucket exactly, the next bucket is used; the choice depends only on the unpadded size.
pub fn pad_answer_payload(payload: &mut AnswerPayload) {
    payload.padding.clear();
    let unpadded = payload.encoded_len();
    let mut target = bucket_for(unpadded);
    loop {
        if let Some(len) = padding_for(target - unpadded) {
            payload.padding = vec![0u8; len];
            return;
        }
        target = bucket_for(target + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_proto::v1::{Content, Dose, VaccinationHistory, answer_payload::Status, content};

    fn payload(doses: usize) -> AnswerPayload {
        AnswerPayload {
            permit_id: "pm-0000000000000000000000".into(),
            inquiry_id: "iq-0000000000000000000000".into(),
            status: Status::Found as i32,
            content: Some(Content {
                body: Some(content::Body::Vaccination(VaccinationHistory {
                    doses: (0..doses)
                        .map(|i| Dose {
                            vaccine_code: format!("V{i}"),
                            ..Default::default()
                        })
                        .collect(),
                })),
            }),
            padding: Vec::new(),
        }
    }

    #[test]
    fn no_data_and_small_history_have_the_same_size() {
        let mut empty = AnswerPayload {
            status: Status::NoData as i32,
            ..payload(0)
        };
        empty.content = None;
        let mut small = payload(3);
        pad_answer_payload(&mut empty);
        pad_answer_payload(&mut small);
        assert_eq!(empty.encoded_len(), 1024);
        assert_eq!(small.encoded_len(), 1024);
    }

    #[test]
    fn every_size_lands_exactly_on_a_bucket() {
        for doses in [0, 1, 10, 50, 100, 400, 2000, 5000] {
            let mut p = payload(doses);
            let before = p.encoded_len();
            pad_answer_payload(&mut p);
            let after = p.encoded_len();
            assert!(after >= before);
            assert_eq!(
                after,
                bucket_for(after),
                "doses={doses} before={before} after={after}"
            );
            assert!(after == 1024 || after >= before + 2);
        }
    }

    #[test]
    fn every_unpadded_size_pads_exactly_and_terminates() {
        // Walks the unpadded size byte by byte across several buckets, including the sizes
        // where the padding's length prefix grows (the old search looped there for ever).
        for k in 0..5000 {
            let mut p = payload(0);
            p.inquiry_id = "x".repeat(k);
            let before = p.encoded_len();
            pad_answer_payload(&mut p);
            let after = p.encoded_len();
            assert_eq!(
                after,
                bucket_for(after),
                "k={k} before={before} after={after}"
            );
            assert!(after >= before);
            assert!(after <= bucket_for(bucket_for(before) + 1), "k={k}");
        }
    }

    #[test]
    fn unreachable_costs_are_recognised() {
        assert_eq!(padding_for(0), Some(0));
        assert_eq!(padding_for(1), None);
        assert_eq!(padding_for(2), None);
        assert_eq!(padding_for(3), Some(1));
        assert_eq!(padding_for(129), Some(127));
        assert_eq!(padding_for(130), None);
        assert_eq!(padding_for(131), Some(128));
    }
}
