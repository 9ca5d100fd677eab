//! Key files: `#` comment lines, then exactly one line of standard base64.
//!
//! Text rather than raw bytes so that an operator can see what a file is (the comment says)
//! and so that copying a public key into a TOML file or a ticket is lossless.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::{CryptoError, EncryptionKey, SigningKey, SymbolKey, VerifyingKey};

fn key_error(path: &Path, reason: impl Into<String>) -> CryptoError {
    CryptoError::KeyFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn read_key_bytes(path: &Path) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let text =
        Zeroizing::new(std::fs::read_to_string(path).map_err(|e| key_error(path, e.to_string()))?);
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let Some(line) = lines.next() else {
        return Err(key_error(path, "no key line (only comments or empty)"));
    };
    if lines.next().is_some() {
        return Err(key_error(
            path,
            "more than one key line; a key file holds exactly one key",
        ));
    }
    STANDARD
        .decode(line)
        .map(Zeroizing::new)
        .map_err(|e| key_error(path, format!("not base64: {e}")))
}

fn fixed32(path: &Path, bytes: &[u8], what: &str) -> Result<[u8; 32], CryptoError> {
    bytes.try_into().map_err(|_| {
        key_error(
            path,
            format!("{} bytes, but {what} is 32 bytes", bytes.len()),
        )
    })
}

pub fn read_signing_key(path: &Path) -> Result<SigningKey, CryptoError> {
    let bytes = read_key_bytes(path)?;
    SigningKey::from_pkcs8(&bytes).map_err(|e| key_error(path, e.to_string()))
}

pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, CryptoError> {
    let bytes = read_key_bytes(path)?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| key_error(path, e.to_string()))
}

pub fn read_encryption_key(path: &Path) -> Result<EncryptionKey, CryptoError> {
    let bytes = read_key_bytes(path)?;
    Ok(EncryptionKey::from_bytes(fixed32(
        path,
        &bytes,
        "an X25519 private key",
    )?))
}

pub fn read_encryption_public_key(path: &Path) -> Result<[u8; 32], CryptoError> {
    let bytes = read_key_bytes(path)?;
    fixed32(path, &bytes, "an X25519 public key")
}

pub fn read_symbol_key(path: &Path) -> Result<SymbolKey, CryptoError> {
    let bytes = read_key_bytes(path)?;
    Ok(SymbolKey::from_bytes(fixed32(
        path,
        &bytes,
        "a symbol key",
    )?))
}

/// Writes `bytes` as a key file readable only by its owner (0600 on Unix), with `header`
/// as `#` comment lines (a `# ` is added to lines that lack one). Replaces an existing file.
pub fn write_key_file(path: &Path, header: &str, bytes: &[u8]) -> Result<(), CryptoError> {
    let mut text = String::new();
    for line in header.lines() {
        if !line.starts_with('#') {
            text.push_str("# ");
        }
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&STANDARD.encode(bytes));
    text.push('\n');
    let text = Zeroizing::new(text);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| key_error(path, e.to_string()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| key_error(path, e.to_string()))?;
    file.sync_all().map_err(|e| key_error(path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_roundtrip_through_files() {
        let dir = tempfile::tempdir().unwrap();
        let (sign, pkcs8) = SigningKey::generate().unwrap();
        let p = dir.path().join("a.sign.key");
        write_key_file(&p, "test signing key\nsecond line", &pkcs8).unwrap();
        assert_eq!(
            read_signing_key(&p).unwrap().public_key(),
            sign.public_key()
        );
        let pubp = dir.path().join("a.sign.pub");
        write_key_file(&pubp, "pub", sign.public_key().as_bytes()).unwrap();
        assert_eq!(read_verifying_key(&pubp).unwrap(), sign.public_key());

        let enc = EncryptionKey::generate().unwrap();
        let ep = dir.path().join("a.enc.key");
        write_key_file(&ep, "enc", &enc.to_bytes()).unwrap();
        assert_eq!(
            read_encryption_key(&ep).unwrap().public_key(),
            enc.public_key()
        );
        // A 32-byte public key file also reads as an encryption public key.
        let epp = dir.path().join("a.enc.pub");
        write_key_file(&epp, "enc pub", &enc.public_key()).unwrap();
        assert_eq!(read_encryption_public_key(&epp).unwrap(), enc.public_key());

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&ep).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn bad_key_files_name_the_file_and_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.key");
        std::fs::write(&p, "# only a comment\n").unwrap();
        let e = read_symbol_key(&p).unwrap_err().to_string();
        assert!(e.contains("bad.key") && e.contains("no key line"), "{e}");
        std::fs::write(&p, "!!!\n").unwrap();
        assert!(
            read_symbol_key(&p)
                .unwrap_err()
                .to_string()
                .contains("not base64")
        );
        std::fs::write(&p, "AAAA\n").unwrap();
        assert!(
            read_symbol_key(&p)
                .unwrap_err()
                .to_string()
                .contains("3 bytes")
        );
        std::fs::write(&p, "AAAA\nAAAA\n").unwrap();
        assert!(
            read_symbol_key(&p)
                .unwrap_err()
                .to_string()
                .contains("more than one")
        );
        assert!(read_signing_key(&dir.path().join("missing")).is_err());
    }
}
