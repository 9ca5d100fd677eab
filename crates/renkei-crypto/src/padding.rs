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

/// Sets `payload.padding` so the encoded payload is exactly a bucket size.
///
/// The padding field's own tag and length prefix change the encoded size, so the padding
/// length is searched for rather than computed once; at most a few iterations run.
pub fn pad_answer_payload(payload: &mut AnswerPayload) {
    payload.padding.clear();
    let unpadded = payload.encoded_len();
    // Tag (1 byte) + at least a 1-byte length: the smallest non-empty padding costs 3 bytes,
    // an empty one costs nothing; aiming for ≥ unpadded + 2 keeps the arithmetic simple.
    let target = bucket_for(unpadded + 2);
    let mut pad = target.saturating_sub(unpadded + 2);
    loop {
        payload.padding = vec![0u8; pad];
        let len = payload.encoded_len();
        if len == target {
            return;
        }
        if len > target {
            if pad == 0 {
                return;
            }
            pad -= 1;
        } else {
            pad += 1;
        }
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
}
