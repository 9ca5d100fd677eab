//! Symbols (符号): per-agency pseudonyms for a person, issued and translated only by the hub.
//!
//! A person id is a keyed hash of the My Number; it never leaves the hub. A symbol is a
//! deterministic authenticated encryption of the person id under keys derived for one agency
//! (an SIV construction over AES-256-GCM: the nonce is a MAC of the plaintext). Determinism
//! lets an agency register a person once and keep the symbol; per-agency keys make the
//! symbols of two agencies for one person unlinkable without the hub's secret; authenticated
//! encryption makes a symbol presented by the wrong agency, or altered, fail to open.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use renkei_core::{AgencyCode, MyNumber};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, KeyType, Salt};
use ring::hmac;
use zeroize::Zeroizing;

use crate::CryptoError;

const VERSION: u8 = 0x01;
const NONCE_LEN: usize = 12;
const PID_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// Length of every symbol: version, nonce, encrypted person id, tag.
pub const SYMBOL_LEN: usize = 1 + NONCE_LEN + PID_LEN + TAG_LEN;

/// The hub-internal identity of a person. Debug output is redacted: it is as identifying as
/// the My Number inside the hub.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PersonId([u8; PID_LEN]);

impl PersonId {
    pub fn as_bytes(&self) -> &[u8; PID_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for PersonId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonId(<redacted>)")
    }
}

struct AgencyKeys {
    enc: LessSafeKey,
    siv: hmac::Key,
    aad: Vec<u8>,
}

/// The hub's symbol secret with a cache of derived per-agency keys.
pub struct SymbolKey {
    secret: Zeroizing<[u8; 32]>,
    person: hmac::Key,
    agencies: RwLock<HashMap<String, Arc<AgencyKeys>>>,
}

struct Len(usize);
impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(secret: &[u8; 32], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // HKDF-Expand of 32 bytes from SHA-256 cannot fail (the limit is 255 * 32).
    if let Ok(okm) = Salt::new(HKDF_SHA256, b"renkei/v1/symbol-key")
        .extract(secret)
        .expand(&[info], Len(32))
    {
        let _ = okm.fill(&mut out);
    }
    out
}

impl SymbolKey {
    pub fn generate() -> Result<SymbolKey, CryptoError> {
        Ok(Self::from_bytes(crate::random_bytes::<32>()?))
    }

    pub fn from_bytes(secret: [u8; 32]) -> SymbolKey {
        let person_key = Zeroizing::new(derive(&secret, b"renkei/v1/person-id"));
        SymbolKey {
            person: hmac::Key::new(hmac::HMAC_SHA256, &*person_key),
            secret: Zeroizing::new(secret),
            agencies: RwLock::new(HashMap::new()),
        }
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        *self.secret
    }

    pub fn person_id(&self, my_number: &MyNumber) -> PersonId {
        let digits = Zeroizing::new(my_number.expose_digits());
        let tag = hmac::sign(&self.person, &*digits);
        let mut id = [0u8; PID_LEN];
        id.copy_from_slice(&tag.as_ref()[..PID_LEN]);
        PersonId(id)
    }

    fn agency(&self, agency: &AgencyCode) -> Arc<AgencyKeys> {
        let code = agency.as_str();
        if let Ok(map) = self.agencies.read()
            && let Some(k) = map.get(code)
        {
            return k.clone();
        }
        let enc = Zeroizing::new(derive(
            &self.secret,
            format!("renkei/v1/symbol-enc/{code}").as_bytes(),
        ));
        let siv = Zeroizing::new(derive(
            &self.secret,
            format!("renkei/v1/symbol-siv/{code}").as_bytes(),
        ));
        let mut aad = b"renkei/v1/symbol".to_vec();
        aad.extend_from_slice(code.as_bytes());
        let keys = Arc::new(AgencyKeys {
            // A 32-byte key is always a valid AES-256 key.
            enc: LessSafeKey::new(match UnboundKey::new(&AES_256_GCM, &*enc) {
                Ok(k) => k,
                Err(_) => unreachable!("32-byte AES-256 key rejected"),
            }),
            siv: hmac::Key::new(hmac::HMAC_SHA256, &*siv),
            aad,
        });
        match self.agencies.write() {
            Ok(mut map) => map.entry(code.to_owned()).or_insert(keys).clone(),
            Err(_) => keys,
        }
    }

    /// The symbol of `person` for `agency`. Same inputs, same symbol.
    pub fn symbol(&self, agency: &AgencyCode, person: &PersonId) -> Vec<u8> {
        let keys = self.agency(agency);
        let mac = hmac::sign(&keys.siv, &person.0);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&mac.as_ref()[..NONCE_LEN]);
        let mut out = Vec::with_capacity(SYMBOL_LEN);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        let mut body = person.0.to_vec();
        // Sealing a 16-byte buffer cannot exceed AES-GCM's length limit.
        let sealed = keys.enc.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(keys.aad.as_slice()),
            &mut body,
        );
        debug_assert!(sealed.is_ok());
        out.extend_from_slice(&body);
        out
    }

    pub fn symbol_for(&self, agency: &AgencyCode, my_number: &MyNumber) -> Vec<u8> {
        self.symbol(agency, &self.person_id(my_number))
    }

    /// Recovers the person behind a symbol presented by `agency`. Fails for a symbol issued to
    /// another agency, an altered symbol, or random bytes.
    pub fn open_symbol(&self, agency: &AgencyCode, symbol: &[u8]) -> Result<PersonId, CryptoError> {
        if symbol.len() != SYMBOL_LEN || symbol[0] != VERSION {
            return Err(CryptoError::SymbolInvalid);
        }
        let keys = self.agency(agency);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&symbol[1..1 + NONCE_LEN]);
        let mut body = symbol[1 + NONCE_LEN..].to_vec();
        let plain = keys
            .enc
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(keys.aad.as_slice()),
                &mut body,
            )
            .map_err(|_| CryptoError::SymbolInvalid)?;
        let mut id = [0u8; PID_LEN];
        id.copy_from_slice(plain);
        // The synthetic IV must be the one this person's id produces, or the symbol was not
        // made by `symbol` (for example, a second valid encryption under another nonce).
        let mac = hmac::sign(&keys.siv, &id);
        if mac.as_ref()[..NONCE_LEN] != nonce {
            return Err(CryptoError::SymbolInvalid);
        }
        Ok(PersonId(id))
    }

    /// The symbol `to` holds for the person behind `from`'s symbol.
    pub fn translate(
        &self,
        from: &AgencyCode,
        symbol: &[u8],
        to: &AgencyCode,
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(self.symbol(to, &self.open_symbol(from, symbol)?))
    }
}

impl std::fmt::Debug for SymbolKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SymbolKey(<secret>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> AgencyCode {
        AgencyCode::parse(s).unwrap()
    }

    fn my_number(first11: &str) -> MyNumber {
        MyNumber::parse(&MyNumber::complete(first11).unwrap()).unwrap()
    }

    #[test]
    fn symbols_are_deterministic_per_agency_and_differ_across_agencies() {
        let key = SymbolKey::generate().unwrap();
        let m = my_number("12345678901");
        let a = key.symbol_for(&code("011002"), &m);
        assert_eq!(a.len(), SYMBOL_LEN);
        assert_eq!(a, key.symbol_for(&code("011002"), &m));
        let b = key.symbol_for(&code("141003"), &m);
        assert_ne!(a, b);
        assert_eq!(
            key.translate(&code("011002"), &a, &code("141003")).unwrap(),
            b
        );
        // Another person, another symbol.
        assert_ne!(
            a,
            key.symbol_for(&code("011002"), &my_number("12345678902"))
        );
        // Another hub secret, another symbol: the symbol depends on the secret.
        let other = SymbolKey::generate().unwrap();
        assert_ne!(a, other.symbol_for(&code("011002"), &m));
        assert_eq!(
            SymbolKey::from_bytes(key.to_bytes()).symbol_for(&code("011002"), &m),
            a
        );
    }

    #[test]
    fn symbols_open_only_for_their_agency_and_unaltered() {
        let key = SymbolKey::generate().unwrap();
        let m = my_number("98765432109");
        let s = key.symbol_for(&code("011002"), &m);
        assert_eq!(
            key.open_symbol(&code("011002"), &s).unwrap(),
            key.person_id(&m)
        );
        assert!(key.open_symbol(&code("141003"), &s).is_err());
        for i in 0..s.len() {
            let mut t = s.clone();
            t[i] ^= 0x40;
            assert!(key.open_symbol(&code("011002"), &t).is_err(), "byte {i}");
        }
        assert!(key.open_symbol(&code("011002"), &s[..44]).is_err());
        assert!(key.open_symbol(&code("011002"), b"").is_err());
    }

    #[test]
    fn symbol_does_not_contain_the_digits() {
        let key = SymbolKey::generate().unwrap();
        let m = my_number("11111111111");
        let s = key.symbol_for(&code("011002"), &m);
        assert!(!s.windows(4).any(|w| w == b"1111"));
        assert!(!format!("{:?}", key.person_id(&m)).contains('1'));
    }
}
