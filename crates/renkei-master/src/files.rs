use std::path::{Path, PathBuf};

use base64::Engine as _;
use renkei_core::AgencyCode;
use renkei_proto::v1::{Agency, AgencyKind, MasterBundle, WhitelistEntry};
use serde::Deserialize;

use crate::MasterError;

/// Where the hub reads its master data.
#[derive(Debug, Clone)]
pub struct MasterFiles {
    pub agencies: PathBuf,
    pub whitelist: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgenciesFile {
    agency: Vec<AgencyRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgencyRow {
    code: String,
    name: String,
    kind: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    server_name: String,
    /// Path (relative to the agencies file) of a key file holding the base64 public key.
    #[serde(default)]
    signing_public_key: Option<PathBuf>,
    #[serde(default)]
    encryption_public_key: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WhitelistFile {
    entry: Vec<WhitelistRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WhitelistRow {
    item: u32,
    old_item: String,
    procedure: String,
    procedure_name: String,
    information: String,
    inquirer_kind: String,
    #[serde(default)]
    inquirer_codes: Vec<String>,
    provider_kind: String,
    #[serde(default)]
    provider_codes: Vec<String>,
    legal_basis: String,
}

fn read(path: &Path) -> Result<String, MasterError> {
    std::fs::read_to_string(path).map_err(|e| MasterError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn parse_kind(path: &Path, value: &str) -> Result<AgencyKind, MasterError> {
    Ok(match value {
        "municipality" => AgencyKind::Municipality,
        "prefecture" => AgencyKind::Prefecture,
        "insurer" => AgencyKind::Insurer,
        "pension" => AgencyKind::Pension,
        other => {
            return Err(MasterError::Invalid {
                path: path.display().to_string(),
                reason: format!(
                    "unknown agency kind {other:?}; use municipality, prefecture, insurer or pension"
                ),
            });
        }
    })
}

/// Reads a key file: one base64 line, `#` comments and blank lines ignored.
fn read_public_key(base: &Path, rel: &Path) -> Result<Vec<u8>, MasterError> {
    let path = base.join(rel);
    let text = read(&path)?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line)
        .map_err(|e| MasterError::Invalid {
            path: path.display().to_string(),
            reason: format!("not base64: {e}"),
        })?;
    if bytes.len() != 32 {
        return Err(MasterError::Invalid {
            path: path.display().to_string(),
            reason: format!("expected a 32-byte public key, found {} bytes", bytes.len()),
        });
    }
    Ok(bytes)
}

/// Builds an unsigned bundle from the master files. The caller (the hub) adds the version,
/// validity and its permit key, then signs.
pub fn load_bundle(files: &MasterFiles) -> Result<MasterBundle, MasterError> {
    let agencies_path = &files.agencies;
    let base = agencies_path.parent().unwrap_or(Path::new("."));
    let parsed: AgenciesFile =
        toml::from_str(&read(agencies_path)?).map_err(|e| MasterError::Invalid {
            path: agencies_path.display().to_string(),
            reason: e.to_string(),
        })?;
    let mut agencies = Vec::with_capacity(parsed.agency.len());
    for row in parsed.agency {
        let invalid = |reason: String| MasterError::Invalid {
            path: agencies_path.display().to_string(),
            reason,
        };
        AgencyCode::parse(&row.code).map_err(|e| invalid(e.to_string()))?;
        let kind = parse_kind(agencies_path, &row.kind)?;
        let signing = match &row.signing_public_key {
            Some(p) => read_public_key(base, p)?,
            None => Vec::new(),
        };
        let encryption = match &row.encryption_public_key {
            Some(p) => read_public_key(base, p)?,
            None => Vec::new(),
        };
        if !row.endpoint.is_empty() && (signing.is_empty() || encryption.is_empty()) {
            return Err(invalid(format!(
                "agency {} has an endpoint but no signing or encryption public key",
                row.code
            )));
        }
        agencies.push(Agency {
            code: row.code,
            name: row.name,
            kind: kind as i32,
            endpoint: row.endpoint,
            server_name: row.server_name,
            signing_public_key: signing,
            encryption_public_key: encryption,
        });
    }

    let wl_path = &files.whitelist;
    let parsed: WhitelistFile =
        toml::from_str(&read(wl_path)?).map_err(|e| MasterError::Invalid {
            path: wl_path.display().to_string(),
            reason: e.to_string(),
        })?;
    let mut whitelist = Vec::with_capacity(parsed.entry.len());
    for row in parsed.entry {
        whitelist.push(WhitelistEntry {
            item: row.item,
            old_item: row.old_item,
            procedure: row.procedure,
            procedure_name: row.procedure_name,
            information: row.information,
            inquirer_kind: parse_kind(wl_path, &row.inquirer_kind)? as i32,
            inquirer_codes: row.inquirer_codes,
            provider_kind: parse_kind(wl_path, &row.provider_kind)? as i32,
            provider_codes: row.provider_codes,
            legal_basis: row.legal_basis,
        });
    }
    let bundle = MasterBundle {
        agencies,
        whitelist,
        ..Default::default()
    };
    crate::MasterData::validate(&bundle)?;
    Ok(bundle)
}
