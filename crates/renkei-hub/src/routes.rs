//! Connections from the hub to the gateways' network endpoints, one lazy mTLS channel
//! per endpoint, reused for every exchange (the handshake is paid once).

use std::collections::HashMap;
use std::sync::Mutex;

use renkei_proto::v1::gateway_network_client::GatewayNetworkClient;
use renkei_transport::{ClientOptions, Credentials};
use tonic::transport::Channel;

use crate::HubError;

#[derive(Debug)]
pub(crate) struct Routes {
    credentials: Credentials,
    options: ClientOptions,
    max_message_bytes: usize,
    clients: Mutex<HashMap<(String, String), GatewayNetworkClient<Channel>>>,
}

impl Routes {
    pub(crate) fn new(
        credentials: Credentials,
        options: ClientOptions,
        max_message_bytes: usize,
    ) -> Routes {
        Routes {
            credentials,
            options,
            max_message_bytes,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn client(
        &self,
        endpoint: &str,
        server_name: &str,
    ) -> Result<GatewayNetworkClient<Channel>, HubError> {
        let key = (endpoint.to_owned(), server_name.to_owned());
        let mut clients = self.clients.lock().map_err(|_| HubError::RoutesPoisoned)?;
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let channel =
            renkei_transport::channel(endpoint, server_name, &self.credentials, &self.options)?;
        let client = GatewayNetworkClient::new(channel)
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes);
        clients.insert(key, client.clone());
        Ok(client)
    }
}
