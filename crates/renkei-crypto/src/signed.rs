//! Signed permits (情報提供許可証) and master-data bundles.
//!
//! Both carry the signed bytes as an opaque field, so that a verifier checks exactly the bytes
//! that were signed and only then decodes them; re-encoding never enters the picture.

use prost::Message;
use renkei_proto::v1::{MasterBundle, Permit, SignedMasterBundle, SignedPermit};

use crate::{CryptoError, PermitCheckError, SigningKey, VerifyingKey, keys::hex_id};

const BUNDLE_CONTEXT: &[u8] = b"renkei/v1/master-bundle\0";
const PERMIT_CONTEXT: &[u8] = b"renkei/v1/permit\0";

fn signed_message(context: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(context.len() + body.len());
    m.extend_from_slice(context);
    m.extend_from_slice(body);
    m
}

/// Signs an encoded [`MasterBundle`].
pub fn sign_bundle(key: &SigningKey, bundle: Vec<u8>) -> SignedMasterBundle {
    let signature = key.sign(&signed_message(BUNDLE_CONTEXT, &bundle)).to_vec();
    SignedMasterBundle {
        bundle,
        signature,
        key_id: key.key_id().to_vec(),
    }
}

/// Checks the hub's signature, then decodes the bundle.
pub fn verify_bundle(
    key: &VerifyingKey,
    signed: &SignedMasterBundle,
) -> Result<MasterBundle, CryptoError> {
    if signed.key_id.as_slice() != key.key_id() {
        return Err(CryptoError::UnknownKey {
            found: hex_id(&signed.key_id),
            expected: hex_id(&key.key_id()),
        });
    }
    key.verify(
        &signed_message(BUNDLE_CONTEXT, &signed.bundle),
        &signed.signature,
    )?;
    MasterBundle::decode(signed.bundle.as_slice()).map_err(|e| CryptoError::Malformed {
        what: "master bundle",
        reason: e.to_string(),
    })
}

pub fn sign_permit(key: &SigningKey, permit: &Permit) -> SignedPermit {
    let bytes = permit.encode_to_vec();
    let signature = key.sign(&signed_message(PERMIT_CONTEXT, &bytes)).to_vec();
    SignedPermit {
        permit: bytes,
        signature,
        key_id: key.key_id().to_vec(),
    }
}

/// Verifies a permit against the hub's permit key, telling a forgery (someone else's key)
/// apart from an alteration (the hub's key, different bytes).
pub fn verify_permit(
    key: &VerifyingKey,
    signed: &SignedPermit,
) -> Result<Permit, PermitCheckError> {
    if signed.key_id.is_empty() {
        return Err(PermitCheckError::Forged("it carries no key id".into()));
    }
    if signed.key_id.as_slice() != key.key_id() {
        return Err(PermitCheckError::Forged(format!(
            "signed with key {}, the hub's permit key is {}",
            hex_id(&signed.key_id),
            hex_id(&key.key_id())
        )));
    }
    key.verify(
        &signed_message(PERMIT_CONTEXT, &signed.permit),
        &signed.signature,
    )
    .map_err(|_| PermitCheckError::Altered)?;
    Permit::decode(signed.permit.as_slice()).map_err(|e| PermitCheckError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permit() -> Permit {
        Permit {
            permit_id: "pm-1".into(),
            inquirer: "011002".into(),
            provider: "141003".into(),
            item: 25,
            ..Default::default()
        }
    }

    #[test]
    fn permit_roundtrip() {
        let (hub, _) = SigningKey::generate().unwrap();
        let signed = sign_permit(&hub, &permit());
        assert_eq!(verify_permit(&hub.public_key(), &signed).unwrap(), permit());
    }

    #[test]
    fn forged_and_altered_permits_are_told_apart() {
        let (hub, _) = SigningKey::generate().unwrap();
        let (mallory, _) = SigningKey::generate().unwrap();
        let forged = sign_permit(&mallory, &permit());
        assert!(matches!(
            verify_permit(&hub.public_key(), &forged),
            Err(PermitCheckError::Forged(_))
        ));
        // A forger copying the hub's key id still fails, as an alteration.
        let mut relabelled = forged.clone();
        relabelled.key_id = hub.key_id().to_vec();
        assert_eq!(
            verify_permit(&hub.public_key(), &relabelled),
            Err(PermitCheckError::Altered)
        );

        let mut altered = sign_permit(&hub, &permit());
        let mut p = permit();
        p.item = 26;
        altered.permit = p.encode_to_vec();
        assert_eq!(
            verify_permit(&hub.public_key(), &altered),
            Err(PermitCheckError::Altered)
        );
        let mut unsigned = sign_permit(&hub, &permit());
        unsigned.key_id.clear();
        assert!(matches!(
            verify_permit(&hub.public_key(), &unsigned),
            Err(PermitCheckError::Forged(_))
        ));
    }

    #[test]
    fn permit_signature_does_not_verify_as_a_bundle() {
        let (hub, _) = SigningKey::generate().unwrap();
        let sp = sign_permit(&hub, &permit());
        let as_bundle = SignedMasterBundle {
            bundle: sp.permit,
            signature: sp.signature,
            key_id: sp.key_id,
        };
        assert!(matches!(
            verify_bundle(&hub.public_key(), &as_bundle),
            Err(CryptoError::BadSignature)
        ));
    }

    #[test]
    fn bundle_roundtrip_and_tamper() {
        let (hub, _) = SigningKey::generate().unwrap();
        let b = MasterBundle {
            version: 7,
            ..Default::default()
        };
        let mut signed = sign_bundle(&hub, b.encode_to_vec());
        assert_eq!(
            verify_bundle(&hub.public_key(), &signed).unwrap().version,
            7
        );
        signed.bundle.push(0);
        assert!(verify_bundle(&hub.public_key(), &signed).is_err());
    }
}
