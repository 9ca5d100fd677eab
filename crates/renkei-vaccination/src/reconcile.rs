//! Reconciliation: the gateway's copies (exported) against the local master (正本).

use std::collections::HashSet;

use renkei_proto::v1::provision_copies_client::ProvisionCopiesClient;
use renkei_proto::v1::{Dose, ExportCopiesRequest, content};
use tonic::transport::Channel;

use crate::VaccinationError;
use crate::client::Progress;
use crate::model::{LocalMaster, canonical_order};
use crate::sync::VACCINATION_ITEM;

/// A person whose copy differs from the master: the doses on one side only.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub unified_address_number: String,
    pub only_local: Vec<Dose>,
    pub only_gateway: Vec<Dose>,
}

#[derive(Debug, Clone, Default)]
pub struct ReconcileReport {
    pub matched: u64,
    /// In the master, no copy at the gateway.
    pub missing: Vec<String>,
    /// A copy at the gateway, not in the master.
    pub extra: Vec<String>,
    pub different: Vec<Difference>,
}

impl ReconcileReport {
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.different.is_empty()
    }
}

/// Compares two histories dose by dose (after putting both in canonical order).
pub fn compare(uan: &str, local: &[Dose], gateway: &[Dose]) -> Option<Difference> {
    let mut l = local.to_vec();
    let mut g = gateway.to_vec();
    canonical_order(&mut l);
    canonical_order(&mut g);
    if l == g {
        return None;
    }
    let only_local = l.iter().filter(|d| !g.contains(d)).cloned().collect();
    let only_gateway = g.iter().filter(|d| !l.contains(d)).cloned().collect();
    Some(Difference {
        unified_address_number: uan.to_owned(),
        only_local,
        only_gateway,
    })
}

pub async fn reconcile(
    channel: Channel,
    master: &LocalMaster,
    progress: &dyn Progress,
) -> Result<ReconcileReport, VaccinationError> {
    let mut client = ProvisionCopiesClient::new(channel);
    let mut stream = client
        .export_copies(ExportCopiesRequest {
            item: VACCINATION_ITEM,
        })
        .await?
        .into_inner();
    progress.start(
        "comparing the gateway's copies",
        master.persons.len() as u64,
    );
    let mut report = ReconcileReport::default();
    let mut seen = HashSet::with_capacity(master.persons.len());
    while let Some(copy) = stream.message().await? {
        let doses = match copy.content.and_then(|c| c.body) {
            Some(content::Body::Vaccination(h)) => h.doses,
            None => Vec::new(),
        };
        let uan = copy.unified_address_number;
        match master.persons.get(&uan) {
            None => report.extra.push(uan),
            Some(p) => {
                match compare(&uan, &p.doses, &doses) {
                    None => report.matched += 1,
                    Some(d) => report.different.push(d),
                }
                seen.insert(uan);
                progress.inc(1);
            }
        }
    }
    progress.finish();
    report.missing = master
        .persons
        .keys()
        .filter(|u| !seen.contains(*u))
        .cloned()
        .collect();
    Ok(report)
}
