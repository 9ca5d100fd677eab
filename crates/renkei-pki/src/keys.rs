//! Agency signing / encryption keys and the hub's symbol key.
//!
//! The formats belong to `renkei-crypto` (`write_key_file`: a comment line, then one base64
//! line); this module only decides which keys the development set contains and names them.

use std::path::Path;

use renkei_crypto::{EncryptionKey, SigningKey, SymbolKey, write_key_file};

use crate::{DEV_KEY_HEADER, DevPkiSpec, FileKind, GeneratedFile, PkiError, files};

pub(crate) fn write_agency_keys(
    out_dir: &Path,
    spec: &DevPkiSpec,
    written: &mut Vec<GeneratedFile>,
) -> Result<(), PkiError> {
    let keys_dir = out_dir.join("keys");
    files::create_dir(&keys_dir)?;
    let mut write = |name: String, bytes: &[u8], description: String| {
        let path = keys_dir.join(&name);
        write_key_file(&path, DEV_KEY_HEADER, bytes).map_err(|source| PkiError::Key {
            what: format!("writing {}", path.display()),
            source,
        })?;
        written.push(GeneratedFile {
            path: Path::new("keys").join(name),
            kind: FileKind::AgencyKey,
            description,
            role_uri: None,
        });
        Ok::<(), PkiError>(())
    };
    let generate = |what: &str| {
        let what = what.to_owned();
        move |source| PkiError::Key { what, source }
    };

    let (hub_sign, hub_pkcs8) =
        SigningKey::generate().map_err(generate("generating the hub signing key"))?;
    write(
        "hub.sign.key".into(),
        &hub_pkcs8,
        "hub Ed25519 signing key (PKCS#8): signs permits and the master-data bundle".into(),
    )?;
    write(
        "hub.sign.pub".into(),
        hub_sign.public_key().as_bytes(),
        "hub Ed25519 public key (32 bytes): gateways verify permits and master data with it".into(),
    )?;
    let symbol = SymbolKey::generate().map_err(generate("generating the hub symbol key"))?;
    write(
        "hub.symbol.key".into(),
        &symbol.to_bytes(),
        "hub secret (32 bytes) deriving and translating per-agency symbols (符号)".into(),
    )?;

    for t in &spec.tenants {
        let code = t.code.as_str();
        let (sign, pkcs8) = SigningKey::generate()
            .map_err(generate(&format!("generating the signing key of {code}")))?;
        write(
            format!("{code}.sign.key"),
            &pkcs8,
            format!(
                "{} ({code}) Ed25519 signing key (PKCS#8): signs inquiries and provisions",
                t.name
            ),
        )?;
        write(
            format!("{code}.sign.pub"),
            sign.public_key().as_bytes(),
            format!(
                "{} ({code}) Ed25519 public key (32 bytes), published in master data",
                t.name
            ),
        )?;
        let enc = EncryptionKey::generate().map_err(generate(&format!(
            "generating the encryption key of {code}"
        )))?;
        write(
            format!("{code}.enc.key"),
            &enc.to_bytes(),
            format!(
                "{} ({code}) X25519 static secret (32 bytes): opens answers sealed to it",
                t.name
            ),
        )?;
        write(
            format!("{code}.enc.pub"),
            &enc.public_key(),
            format!(
                "{} ({code}) X25519 public key (32 bytes), published in master data",
                t.name
            ),
        )?;
    }
    Ok(())
}
