//! Bulk symbol acquisition (符号取得) for a tenant's population, from the address
//! system's export of (統合宛名番号, 個人番号).
//!
//! My Numbers pass through memory only: the file is read into a buffer that is wiped
//! after parsing, and each entry wipes its number when dropped. Nothing here writes a
//! My Number anywhere, and no message or report quotes one.

use std::path::Path;

use futures::StreamExt as _;
use renkei_core::{MyNumber, UnifiedAddressNumber};
use renkei_proto::v1::symbols_client::SymbolsClient;
use renkei_proto::v1::{AcquireSymbolRequest, AcquisitionState, RegisterAddressNumberRequest};
use tonic::transport::Channel;
use zeroize::Zeroize as _;

use crate::client::Progress;
use crate::text::{TextEncoding, decode};
use crate::{RowError, VaccinationError};

/// One person of the export, held in memory until its request is sent.
pub struct AddressEntry {
    pub line: u64,
    pub unified_address_number: String,
    my_number: String,
}

impl std::fmt::Debug for AddressEntry {
    /// Never prints the My Number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressEntry")
            .field("line", &self.line)
            .field("unified_address_number", &self.unified_address_number)
            .finish_non_exhaustive()
    }
}

impl Drop for AddressEntry {
    fn drop(&mut self) {
        self.my_number.zeroize();
    }
}

/// Reads and checks the export; bad rows are reported without their My Number.
pub fn read_address_export(
    path: &Path,
    enc: TextEncoding,
) -> Result<(Vec<AddressEntry>, Vec<RowError>), VaccinationError> {
    let raw = std::fs::read(path).map_err(|e| VaccinationError::io(path, e))?;
    let (mut text, _) = decode(raw, enc);
    let result = parse_address_export(&path.display().to_string(), &text);
    text.zeroize();
    result
}

pub fn parse_address_export(
    file: &str,
    text: &[u8],
) -> Result<(Vec<AddressEntry>, Vec<RowError>), VaccinationError> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(text);
    let headers = rdr
        .headers()
        .map_err(|e| VaccinationError::Format {
            path: file.into(),
            reason: format!("cannot read the header row: {e}"),
        })?
        .clone();
    let pos = |n: &str| headers.iter().position(|h| h.trim() == n);
    let (Some(ui), Some(mi)) = (pos("統合宛名番号"), pos("個人番号")) else {
        return Err(VaccinationError::Format {
            path: file.into(),
            reason: "the address system's export needs the columns 統合宛名番号 and 個人番号"
                .into(),
        });
    };
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // The csv error may quote the row; say only where it is.
                errors.push(RowError {
                    person: None,
                    file: file.into(),
                    line: e.position().map_or(0, |p| p.line()),
                    entry: None,
                    column: None,
                    reason: "not a CSV row (or not valid UTF-8)".into(),
                });
                continue;
            }
        }
        let line = rec.position().map_or(0, |p| p.line());
        let bad = |column: &str, reason: String| RowError {
            person: None,
            file: file.into(),
            line,
            entry: None,
            column: Some(column.into()),
            reason,
        };
        let uan = rec.get(ui).unwrap_or("").trim();
        let my = rec.get(mi).unwrap_or("").trim();
        if let Err(e) = UnifiedAddressNumber::parse(uan) {
            errors.push(bad("統合宛名番号", e.to_string()));
            continue;
        }
        if let Err(e) = MyNumber::parse(my) {
            // CoreError never echoes a My Number.
            errors.push(bad("個人番号", e.to_string()));
            continue;
        }
        entries.push(AddressEntry {
            line,
            unified_address_number: uan.to_owned(),
            my_number: my.to_owned(),
        });
    }
    // The record buffer held the last row's My Number.
    rec.clear();
    Ok((entries, errors))
}

/// A person whose symbol was not acquired, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireFailure {
    pub line: u64,
    pub unified_address_number: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct SymbolsReport {
    pub acquired: u64,
    pub failed: Vec<AcquireFailure>,
}

/// Calls in flight: one chunk's gateway pipeline (validate, store, hub call, store, commit)
/// runs while the next chunks wait on theirs, so both cores work (`renkei bench symbols`:
/// 1.7× the throughput of one call at a time, docs/performance.md).
const IN_FLIGHT: usize = 4;

/// Registers the numbers and acquires the symbols, `chunk` persons per call, several calls
/// in flight. Results are taken in file order.
pub async fn acquire_all(
    channel: Channel,
    entries: Vec<AddressEntry>,
    chunk: usize,
    progress: &dyn Progress,
) -> Result<SymbolsReport, VaccinationError> {
    let client = SymbolsClient::new(channel);
    let mut report = SymbolsReport::default();
    progress.start("acquiring symbols", entries.len() as u64);
    let mut batches = Vec::new();
    let mut entries = entries;
    while !entries.is_empty() {
        let rest = entries.split_off(chunk.max(1).min(entries.len()));
        batches.push(std::mem::replace(&mut entries, rest));
    }
    let mut calls = std::pin::pin!(
        futures::stream::iter(batches.into_iter().map(|batch| {
            let mut client = client.clone();
            async move {
                let regs: Vec<_> = batch
                    .iter()
                    .map(|e| RegisterAddressNumberRequest {
                        unified_address_number: e.unified_address_number.clone(),
                    })
                    .collect();
                client
                    .register_address_numbers(tokio_stream::iter(regs))
                    .await?;
                let reqs: Vec<AcquireSymbolRequest> = batch
                    .iter()
                    .map(|e| AcquireSymbolRequest {
                        unified_address_number: e.unified_address_number.clone(),
                        my_number: e.my_number.clone(),
                    })
                    .collect();
                let mut results = Vec::with_capacity(batch.len());
                let mut stream = client
                    .acquire_symbols(tokio_stream::iter(reqs))
                    .await?
                    .into_inner();
                while let Some(a) = stream.message().await? {
                    results.push(a);
                }
                Ok::<_, VaccinationError>((batch, results))
            }
        }))
        .buffered(IN_FLIGHT)
    );
    while let Some(done) = calls.next().await {
        let (batch, results) = done?;
        for a in results {
            let line = batch.get(a.index as usize).map_or(0, |e| e.line);
            if a.state == AcquisitionState::Acquired as i32 {
                report.acquired += 1;
            } else {
                report.failed.push(AcquireFailure {
                    line,
                    unified_address_number: a.unified_address_number,
                    reason: if a.error.is_empty() {
                        "not acquired".into()
                    } else {
                        a.error
                    },
                });
            }
        }
        progress.inc(batch.len() as u64);
    }
    progress.finish();
    Ok(report)
}
