use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::{CryptoError, sha256};

/// An Ed25519 private key. ring keeps the seed inside; we keep the key id next to it.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    public: VerifyingKey,
}

impl SigningKey {
    /// A fresh key and its PKCS#8 v2 encoding, which is what goes into the key file.
    pub fn generate() -> Result<(SigningKey, Vec<u8>), CryptoError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| CryptoError::Rng)?;
        let key = Self::from_pkcs8(pkcs8.as_ref())?;
        Ok((key, pkcs8.as_ref().to_vec()))
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<SigningKey, CryptoError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|e| {
            CryptoError::InvalidKey {
                what: "Ed25519 signing",
                reason: e.to_string(),
            }
        })?;
        let public = VerifyingKey::from_bytes(pair.public_key().as_ref())?;
        Ok(SigningKey { pair, public })
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.public.clone()
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let sig = self.pair.sign(message);
        let mut out = [0u8; 64];
        out.copy_from_slice(sig.as_ref());
        out
    }

    pub fn key_id(&self) -> [u8; 8] {
        self.public.key_id()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", hex_id(&self.key_id()))
    }
}

/// An Ed25519 public key as published in master data.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    bytes: [u8; 32],
    id: [u8; 8],
}

impl VerifyingKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<VerifyingKey, CryptoError> {
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::InvalidKey {
            what: "Ed25519 public",
            reason: format!("{} bytes, expected 32", bytes.len()),
        })?;
        let digest = sha256(&bytes);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Ok(VerifyingKey { bytes, id })
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// First 8 bytes of SHA-256 of the public key: lets a verifier tell "signed by someone
    /// else" (forged) from "signed by us but altered".
    pub fn key_id(&self) -> [u8; 8] {
        self.id
    }

    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        UnparsedPublicKey::new(&ED25519, &self.bytes)
            .verify(message, signature)
            .map_err(|_| CryptoError::BadSignature)
    }
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyingKey({})", hex_id(&self.id))
    }
}

/// An X25519 static secret: the key answers are sealed to.
pub struct EncryptionKey {
    secret: x25519_dalek::StaticSecret,
}

impl EncryptionKey {
    pub fn generate() -> Result<EncryptionKey, CryptoError> {
        let bytes = Zeroizing::new(crate::random_bytes::<32>()?);
        Ok(Self::from_bytes(*bytes))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> EncryptionKey {
        EncryptionKey {
            secret: x25519_dalek::StaticSecret::from(bytes),
        }
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.secret.to_bytes()
    }

    pub fn public_key(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.secret).to_bytes()
    }

    pub(crate) fn diffie_hellman(
        &self,
        peer: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(*peer));
        if !shared.was_contributory() {
            return Err(CryptoError::NonContributory);
        }
        Ok(Zeroizing::new(shared.to_bytes()))
    }
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EncryptionKey({})",
            hex_id(&sha256(&self.public_key())[..8])
        )
    }
}

pub(crate) fn hex_id(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_roundtrip_and_reject_other_message() {
        let (key, pkcs8) = SigningKey::generate().unwrap();
        let again = SigningKey::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        let sig = key.sign(b"hello");
        key.public_key().verify(b"hello", &sig).unwrap();
        assert!(key.public_key().verify(b"hellp", &sig).is_err());
        let (other, _) = SigningKey::generate().unwrap();
        assert!(other.public_key().verify(b"hello", &sig).is_err());
        assert_ne!(key.key_id(), other.key_id());
    }

    #[test]
    fn wrong_length_public_key_is_an_error() {
        assert!(VerifyingKey::from_bytes(&[0u8; 31]).is_err());
        assert!(SigningKey::from_pkcs8(b"not a key").is_err());
    }

    #[test]
    fn low_order_point_is_rejected() {
        let key = EncryptionKey::generate().unwrap();
        assert!(matches!(
            key.diffie_hellman(&[0u8; 32]),
            Err(CryptoError::NonContributory)
        ));
    }
}
