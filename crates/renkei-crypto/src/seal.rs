//! Sealed answers: encrypted to the inquirer, signed by the provider, bound to one permit.
//!
//! The hub forwards a [`SealedAnswer`] without being able to read it (it has neither the
//! inquirer's encryption key nor a shared secret), and cannot swap it into another exchange
//! unnoticed: the permit id and both agency codes are in the AEAD's associated data and
//! under the provider's signature.

use renkei_proto::v1::SealedAnswer;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use zeroize::Zeroizing;

use crate::{CryptoError, EncryptionKey, SigningKey, VerifyingKey, lp};

const KEY_INFO: &[u8] = b"renkei/v1/answer-key";
const AAD_CONTEXT: &[u8] = b"renkei/v1/answer";
const SIG_CONTEXT: &[u8] = b"renkei/v1/answer-sig\0";

/// What a sealed answer is bound to. Both sides build it from the permit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerContext {
    pub permit_id: String,
    pub inquirer: String,
    pub provider: String,
}

impl AnswerContext {
    fn aad(&self) -> Vec<u8> {
        let mut aad = AAD_CONTEXT.to_vec();
        self.append_fields(&mut aad);
        aad
    }

    fn append_fields(&self, out: &mut Vec<u8>) {
        lp(out, self.permit_id.as_bytes());
        lp(out, self.inquirer.as_bytes());
        lp(out, self.provider.as_bytes());
    }

    fn signed_bytes(&self, ephemeral: &[u8], ciphertext: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(SIG_CONTEXT.len() + 64 + ephemeral.len() + ciphertext.len());
        m.extend_from_slice(SIG_CONTEXT);
        self.append_fields(&mut m);
        lp(&mut m, ephemeral);
        lp(&mut m, ciphertext);
        m
    }

    fn check(&self, sealed: &SealedAnswer) -> Result<(), CryptoError> {
        for (field, found, expected) in [
            ("permit", &sealed.permit_id, &self.permit_id),
            ("inquirer", &sealed.inquirer, &self.inquirer),
            ("provider", &sealed.provider, &self.provider),
        ] {
            if found != expected {
                return Err(CryptoError::ContextMismatch {
                    field,
                    found: found.clone(),
                    expected: expected.clone(),
                });
            }
        }
        Ok(())
    }
}

fn aead_key(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
) -> Result<LessSafeKey, CryptoError> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient);
    let prk = Salt::new(HKDF_SHA256, &salt).extract(shared);
    let okm = prk
        .expand(&[KEY_INFO], &AES_256_GCM)
        .map_err(|_| CryptoError::OpenFailed)?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

/// Encrypts `payload` to `recipient` (the inquirer's X25519 public key) and signs the result
/// with the provider's key. Each call uses a fresh ephemeral key, so the all-zero nonce is
/// never reused under one AEAD key.
pub fn seal_answer(
    payload: &[u8],
    ctx: &AnswerContext,
    recipient: &[u8; 32],
    provider_key: &SigningKey,
) -> Result<SealedAnswer, CryptoError> {
    let ephemeral = EncryptionKey::generate()?;
    let ephemeral_public = ephemeral.public_key();
    let shared = ephemeral.diffie_hellman(recipient)?;
    let key = aead_key(&shared, &ephemeral_public, recipient)?;
    let mut ciphertext = Zeroizing::new(payload.to_vec());
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key([0u8; 12]),
        Aad::from(ctx.aad()),
        &mut *ciphertext,
    )
    .map_err(|_| CryptoError::OpenFailed)?;
    let ciphertext = std::mem::take(&mut *ciphertext);
    let signature = provider_key
        .sign(&ctx.signed_bytes(&ephemeral_public, &ciphertext))
        .to_vec();
    Ok(SealedAnswer {
        permit_id: ctx.permit_id.clone(),
        inquirer: ctx.inquirer.clone(),
        provider: ctx.provider.clone(),
        ephemeral_public_key: ephemeral_public.to_vec(),
        ciphertext,
        signature,
    })
}

/// Checks binding and signature without decrypting: what the hub can and does check before
/// forwarding an answer.
pub fn verify_answer(
    sealed: &SealedAnswer,
    ctx: &AnswerContext,
    provider: &VerifyingKey,
) -> Result<(), CryptoError> {
    ctx.check(sealed)?;
    provider.verify(
        &ctx.signed_bytes(&sealed.ephemeral_public_key, &sealed.ciphertext),
        &sealed.signature,
    )
}

/// Verifies and decrypts an answer addressed to `own` for the exchange in `ctx`.
pub fn open_answer(
    sealed: &SealedAnswer,
    ctx: &AnswerContext,
    own: &EncryptionKey,
    provider: &VerifyingKey,
) -> Result<Vec<u8>, CryptoError> {
    verify_answer(sealed, ctx, provider)?;
    let ephemeral: [u8; 32] = sealed
        .ephemeral_public_key
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::Malformed {
            what: "ephemeral key",
            reason: "not 32 bytes".into(),
        })?;
    let shared = own.diffie_hellman(&ephemeral)?;
    let key = aead_key(&shared, &ephemeral, &own.public_key())?;
    let mut buf = sealed.ciphertext.clone();
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key([0u8; 12]),
            Aad::from(ctx.aad()),
            &mut buf,
        )
        .map_err(|_| CryptoError::OpenFailed)?;
    let len = plain.len();
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Parties {
        inquirer: EncryptionKey,
        other: EncryptionKey,
        provider: SigningKey,
        ctx: AnswerContext,
    }

    fn parties() -> Parties {
        Parties {
            inquirer: EncryptionKey::generate().unwrap(),
            other: EncryptionKey::generate().unwrap(),
            provider: SigningKey::generate().unwrap().0,
            ctx: AnswerContext {
                permit_id: "pm-1".into(),
                inquirer: "011002".into(),
                provider: "141003".into(),
            },
        }
    }

    #[test]
    fn only_the_inquirer_opens_the_answer() {
        let p = parties();
        let sealed =
            seal_answer(b"history", &p.ctx, &p.inquirer.public_key(), &p.provider).unwrap();
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"history"));
        let vk = p.provider.public_key();
        assert_eq!(
            open_answer(&sealed, &p.ctx, &p.inquirer, &vk).unwrap(),
            b"history"
        );
        assert!(matches!(
            open_answer(&sealed, &p.ctx, &p.other, &vk),
            Err(CryptoError::OpenFailed)
        ));
    }

    #[test]
    fn tampering_and_rebinding_are_detected() {
        let p = parties();
        let vk = p.provider.public_key();
        let sealed =
            seal_answer(b"history", &p.ctx, &p.inquirer.public_key(), &p.provider).unwrap();

        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert!(matches!(
            open_answer(&flipped, &p.ctx, &p.inquirer, &vk),
            Err(CryptoError::BadSignature)
        ));

        let other_ctx = AnswerContext {
            permit_id: "pm-2".into(),
            ..p.ctx.clone()
        };
        assert!(matches!(
            open_answer(&sealed, &other_ctx, &p.inquirer, &vk),
            Err(CryptoError::ContextMismatch {
                field: "permit",
                ..
            })
        ));
        // Relabelled to another permit: the signature covers the permit id.
        let mut relabelled = sealed.clone();
        relabelled.permit_id = "pm-2".into();
        assert!(matches!(
            open_answer(&relabelled, &other_ctx, &p.inquirer, &vk),
            Err(CryptoError::BadSignature)
        ));

        let (mallory, _) = SigningKey::generate().unwrap();
        assert!(matches!(
            open_answer(&sealed, &p.ctx, &p.inquirer, &mallory.public_key()),
            Err(CryptoError::BadSignature)
        ));
    }

    #[test]
    fn two_seals_of_the_same_payload_differ() {
        let p = parties();
        let a = seal_answer(b"x", &p.ctx, &p.inquirer.public_key(), &p.provider).unwrap();
        let b = seal_answer(b"x", &p.ctx, &p.inquirer.public_key(), &p.provider).unwrap();
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_ne!(a.ephemeral_public_key, b.ephemeral_public_key);
    }

    #[test]
    fn small_order_recipient_is_refused() {
        let p = parties();
        assert!(matches!(
            seal_answer(b"x", &p.ctx, &[0u8; 32], &p.provider),
            Err(CryptoError::NonContributory)
        ));
    }
}
