//! One hosted municipality: its keys, storage, records and link to the hub.

use std::sync::Arc;
use std::time::Duration;

use renkei_core::{AgencyCode, SharedClock};
use renkei_crypto::{EncryptionKey, SigningKey};
use renkei_ledger::{HeadSigner, Ledger, LedgerOptions};
use renkei_proto::v1::Inquiry;
use renkei_proto::v1::diagnostics_client::DiagnosticsClient;
use renkei_proto::v1::hub_client::HubClient;
use renkei_records::RecordBook;
use renkei_store::exchange::ExchangeStore;
use renkei_store::registry::Registry;
use renkei_store::{Store, TenantStore, TreeKind};
use renkei_transport::{ClientOptions, Credentials};
use tokio::sync::broadcast;
use tonic::transport::Channel;

use crate::GatewayError;
use crate::config::{GatewayConfig, HeldPolicy, TenantConfig};

#[derive(Debug)]
pub(crate) struct Tenant {
    pub(crate) code: AgencyCode,
    pub(crate) name: String,
    pub(crate) db: TenantStore,
    /// Inquiries, permits seen, held answers and flags, behind the storage trait.
    pub(crate) exchange: Arc<dyn ExchangeStore>,
    /// Address numbers, symbols, acquisitions and provision copies (module `symbols`,
    /// `copies`), behind the storage trait so another engine can stand in.
    pub(crate) registry: Arc<dyn Registry>,
    /// Where this tenant's "now" comes from (a `FakeClock` in tests).
    pub(crate) clock: SharedClock,
    pub(crate) records: RecordBook,
    pub(crate) signing: SigningKey,
    pub(crate) encryption: EncryptionKey,
    pub(crate) hub: Arc<dyn crate::hub_link::HubLink>,
    /// The same channel, for the peer connection test.
    pub(crate) diagnostics: DiagnosticsClient<Channel>,
    pub(crate) retention: Duration,
    pub(crate) record_retention_days: u32,
    /// Every inquiry state change, for WatchInquiry.
    pub(crate) updates: broadcast::Sender<Arc<Inquiry>>,
    pub(crate) held_policy: HeldPolicy,
    /// One decision at a time per tenant, so an approval and an expiry cannot both win.
    pub(crate) decide_lock: tokio::sync::Mutex<()>,
    /// Held inquiries waiting for an operator, as counted by the last sweep (for the gauge).
    pub(crate) held_waiting: std::sync::atomic::AtomicU64,
    /// Permits whose stored answer is being sent now (`held::deliver_unsent`).
    pub(crate) sending: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The tenant's operators and audit log.
    pub(crate) ops: renkei_ops::OperatorBook,
    /// Batch jobs run for this tenant (imports, flag loads, purges).
    pub(crate) jobs: Arc<crate::jobs::JobBook>,
}

impl Tenant {
    pub(crate) fn open(
        config: &GatewayConfig,
        tc: &TenantConfig,
        store: &Store,
        clock: SharedClock,
    ) -> Result<Tenant, GatewayError> {
        let code = AgencyCode::parse(&tc.code)
            .map_err(|e| GatewayError::Config(format!("tenant code: {e}")))?;
        let db = store.tenant(&code);
        let registry: Arc<dyn Registry> = Arc::new(db.registry()?);
        let exchange: Arc<dyn ExchangeStore> = Arc::new(db.exchange()?);
        // One clock (the gateway's) for the tenant's operators, jobs and exchange, so a
        // test can move them together.
        let ops = renkei_ops::OperatorBook::open_with(
            code.as_str(),
            Arc::new(db.operators()?),
            config.operators.policy(),
            clock.clone(),
        )?;
        // Tree heads are signed with the key whose public half master data publishes, so
        // anyone holding master data can check them (docs/decisions/0020).
        let ledger = Ledger::open_signed(
            &config.data_dir.join("records").join(code.as_str()),
            LedgerOptions::default(),
            HeadSigner {
                log_id: code.to_string(),
                key: renkei_crypto::read_signing_key(&tc.signing_key)?,
            },
        )?;
        let records = RecordBook::open(ledger, db.tree(TreeKind::RecordIndex)?)?;
        let signing = renkei_crypto::read_signing_key(&tc.signing_key)?;
        let encryption = renkei_crypto::read_encryption_key(&tc.encryption_key)?;
        let creds = Credentials::load(&config.tls.ca, &tc.client_cert, &tc.client_key)?;
        let opts = ClientOptions {
            request_timeout: Duration::from_secs(config.limits.hub_timeout_secs),
            ..ClientOptions::default()
        };
        let channel = renkei_transport::channel(
            &config.hub.endpoint,
            &config.hub.server_name,
            &creds,
            &opts,
        )?;
        let max = config.limits.max_message_bytes;
        let diagnostics = DiagnosticsClient::new(channel.clone());
        let hub: Arc<dyn crate::hub_link::HubLink> = Arc::new(
            HubClient::new(channel)
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        );
        let (updates, _) = broadcast::channel(1024);
        let jobs = Arc::new(crate::jobs::JobBook::open_with_clock(
            code.as_str(),
            db.tree(TreeKind::Jobs)?,
            clock.clone(),
        )?);
        Ok(Tenant {
            code,
            name: tc.name.clone(),
            db,
            exchange,
            registry,
            clock,
            records,
            signing,
            encryption,
            hub,
            diagnostics,
            retention: Duration::from_secs(tc.inquiry_result_retention_secs),
            record_retention_days: tc.record_retention_days,
            updates,
            held_policy: tc.held.clone(),
            decide_lock: tokio::sync::Mutex::new(()),
            held_waiting: std::sync::atomic::AtomicU64::new(0),
            sending: std::sync::Mutex::default(),
            ops,
            jobs,
        })
    }

    /// Waits until this tenant's storage writes are on disk.
    pub(crate) async fn commit(&self) -> Result<(), GatewayError> {
        Ok(self.db.commit().await?)
    }
}
