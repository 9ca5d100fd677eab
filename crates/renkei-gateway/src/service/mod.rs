//! The gRPC edge: identity checks and request parsing, then the tenant's logic.

mod diagnostics;
mod local;
mod log;
mod network;
mod ops;
mod reports;
mod status;
mod system;

use std::sync::Arc;

use renkei_proto::v1::auto_response_block_server::AutoResponseBlockServer;
use renkei_proto::v1::diagnostics_server::DiagnosticsServer;
use renkei_proto::v1::gateway_network_server::GatewayNetworkServer;
use renkei_proto::v1::inquiries_server::InquiriesServer;
use renkei_proto::v1::operators_server::OperatorsServer;
use renkei_proto::v1::provision_copies_server::ProvisionCopiesServer;
use renkei_proto::v1::record_log_server::RecordLogServer;
use renkei_proto::v1::records_server::RecordsServer;
use renkei_proto::v1::reports_server::ReportsServer;
use renkei_proto::v1::symbols_server::SymbolsServer;
use renkei_proto::v1::system_management_server::SystemManagementServer;
use tonic::service::Routes;

use crate::Inner;

pub(crate) const LOCAL_SERVICES: [&str; 10] = [
    "renkei.v1.Symbols",
    "renkei.v1.ProvisionCopies",
    "renkei.v1.Inquiries",
    "renkei.v1.Records",
    "renkei.v1.Operators",
    "renkei.v1.AutoResponseBlock",
    "renkei.v1.RecordLog",
    "renkei.v1.Diagnostics",
    "renkei.v1.Reports",
    "renkei.v1.SystemManagement",
];
pub(crate) const NETWORK_SERVICES: [&str; 1] = ["renkei.v1.GatewayNetwork"];

macro_rules! limited {
    ($server:ident, $svc:expr, $max:expr) => {
        $server::new($svc)
            .max_decoding_message_size($max)
            .max_encoding_message_size($max)
    };
}

pub(crate) fn routes(inner: &Arc<Inner>) -> (Routes, Routes) {
    let max = inner.config.limits.max_message_bytes;
    let l = local::Local { gw: inner.clone() };
    let o = ops::Ops { gw: inner.clone() };
    let local = Routes::new(limited!(SymbolsServer, l.clone(), max))
        .add_service(limited!(ProvisionCopiesServer, l.clone(), max))
        .add_service(limited!(InquiriesServer, l.clone(), max))
        .add_service(limited!(RecordsServer, l.clone(), max))
        .add_service(limited!(RecordLogServer, l.clone(), max))
        .add_service(limited!(DiagnosticsServer, l, max))
        .add_service(limited!(OperatorsServer, o.clone(), max))
        .add_service(limited!(AutoResponseBlockServer, o.clone(), max))
        .add_service(limited!(ReportsServer, o.clone(), max))
        .add_service(limited!(
            SystemManagementServer,
            system::System { ops: o },
            max
        ));
    let network = Routes::new(limited!(
        GatewayNetworkServer,
        network::Network { gw: inner.clone() },
        max
    ));
    (local, network)
}
