//! Enrolment: what a municipality's back office does before it can ask or answer about a
//! resident. It registers the unified address number (統合宛名番号), acquires the
//! resident's symbol from the hub with the My Number (used for that call only), and
//! registers the provision copy (副本) of their vaccination history if there is one.
//!
//! Written once so that the demo, the benchmarks and the tests cannot enrol differently.

use renkei_proto::v1::provision_copies_client::ProvisionCopiesClient;
use renkei_proto::v1::symbols_client::SymbolsClient;
use renkei_proto::v1::{
    AcquireSymbolRequest, AcquisitionState, ProvisionCopy, PutCopyRequest,
    RegisterAddressNumberRequest, VaccinationHistory,
};
use tonic::transport::Channel;

use crate::TestkitError;
use crate::population::{Resident, content};

/// Which form of the gateway's calls enrolment uses. Both stay in use because both are
/// served: the bulk streams are what an adapter sends, the single calls what an interactive
/// back office sends, and the end-to-end tests check the logs and records of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    /// `RegisterAddressNumber`, `AcquireSymbol` and `PutCopy`, resident by resident.
    Single,
    /// One `RegisterAddressNumbers`, one `AcquireSymbols` and one `ImportCopies` stream.
    Bulk,
}

/// What an enrolment did, for the demo to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enrolled {
    pub registered: u64,
    pub acquired: u64,
    /// Provision copies registered (residents without a history have none).
    pub copies: u64,
}

/// Enrols `residents` through a back-office `channel` of their municipality. Fails unless
/// every number is registered, every symbol acquired and every copy accepted: callers rely
/// on the residents being askable afterwards.
pub async fn enrol(
    channel: &Channel,
    residents: &[Resident],
    calls: Calls,
) -> Result<Enrolled, TestkitError> {
    let wanted = residents.len() as u64;
    let copies: Vec<_> = residents
        .iter()
        .filter_map(|r| {
            r.history
                .as_ref()
                .map(|h| copy_request(&r.unified_address_number, h))
        })
        .collect();
    let n_copies = copies.len() as u64;
    match calls {
        Calls::Single => {
            let mut symbols = SymbolsClient::new(channel.clone());
            let mut provision = ProvisionCopiesClient::new(channel.clone());
            for (acquired, r) in (0u64..).zip(residents) {
                symbols
                    .register_address_number(RegisterAddressNumberRequest {
                        unified_address_number: r.unified_address_number.clone(),
                    })
                    .await?;
                let a = symbols
                    .acquire_symbol(AcquireSymbolRequest {
                        unified_address_number: r.unified_address_number.clone(),
                        my_number: r.my_number.clone(),
                    })
                    .await?
                    .into_inner();
                if a.state != AcquisitionState::Acquired as i32 {
                    return Err(TestkitError::NotAcquired { acquired, wanted });
                }
                if let Some(h) = &r.history {
                    provision
                        .put_copy(copy_request(&r.unified_address_number, h))
                        .await?;
                }
            }
        }
        Calls::Bulk => {
            register_address_numbers(
                channel,
                residents
                    .iter()
                    .map(|r| r.unified_address_number.clone())
                    .collect(),
            )
            .await?;
            let (acquired, _) = acquire_symbols(
                channel,
                residents
                    .iter()
                    .map(|r| (r.unified_address_number.clone(), r.my_number.clone()))
                    .collect(),
            )
            .await?;
            if acquired != wanted {
                return Err(TestkitError::NotAcquired { acquired, wanted });
            }
            let summary = ProvisionCopiesClient::new(channel.clone())
                .import_copies(tokio_stream::iter(copies))
                .await?
                .into_inner();
            if summary.accepted != n_copies {
                return Err(TestkitError::CopiesRejected {
                    rejected: summary.rejected,
                    errors: summary.errors,
                });
            }
        }
    }
    Ok(Enrolled {
        registered: wanted,
        acquired: wanted,
        copies: n_copies,
    })
}

/// The provision copy of a vaccination history (item 25, 予防接種).
pub fn copy_request(unified_address_number: &str, history: &VaccinationHistory) -> PutCopyRequest {
    PutCopyRequest {
        copy: Some(ProvisionCopy {
            unified_address_number: unified_address_number.to_owned(),
            item: 25,
            content: Some(content(history)),
            ..Default::default()
        }),
    }
}

/// Registers address numbers in one stream; fails if any is rejected.
pub async fn register_address_numbers(
    channel: &Channel,
    uans: Vec<String>,
) -> Result<(), TestkitError> {
    let reqs = uans.into_iter().map(|u| RegisterAddressNumberRequest {
        unified_address_number: u,
    });
    let s = SymbolsClient::new(channel.clone())
        .register_address_numbers(tokio_stream::iter(reqs))
        .await?
        .into_inner();
    if s.rejected != 0 {
        return Err(TestkitError::RegistrationRejected {
            rejected: s.rejected,
            first: s.errors.into_iter().next(),
        });
    }
    Ok(())
}

/// Acquires the symbols of (address number, My Number) pairs in one stream; returns how
/// many were acquired and how many were not. Failures are counted, not raised, because the
/// symbol benchmark measures them.
pub async fn acquire_symbols(
    channel: &Channel,
    pairs: Vec<(String, String)>,
) -> Result<(u64, u64), TestkitError> {
    let reqs = pairs.into_iter().map(|(uan, my)| AcquireSymbolRequest {
        unified_address_number: uan,
        my_number: my,
    });
    let mut stream = SymbolsClient::new(channel.clone())
        .acquire_symbols(tokio_stream::iter(reqs))
        .await?
        .into_inner();
    let (mut ok, mut failed) = (0, 0);
    while let Some(a) = stream.message().await? {
        if a.state == AcquisitionState::Acquired as i32 {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    Ok((ok, failed))
}

/// Imports copies in one stream; returns (accepted, rejected) as the gateway counted them.
pub async fn import_copies(
    channel: &Channel,
    reqs: Vec<PutCopyRequest>,
) -> Result<(u64, u64), TestkitError> {
    let s = ProvisionCopiesClient::new(channel.clone())
        .import_copies(tokio_stream::iter(reqs))
        .await?
        .into_inner();
    Ok((s.accepted, s.rejected))
}
