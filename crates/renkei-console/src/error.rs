/// Why the console could not do something, named by cause. Gateway refusals are not
/// errors of the console: pages show them (see `web::GatewayFailure`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    #[error("the terminal certificate could not be loaded: {0}")]
    TerminalCertificate(String),
    #[error("the gateway endpoint is unusable: {0}")]
    GatewayEndpoint(String),
    #[error("the HTTPS certificate or key is unusable: {0}")]
    Tls(String),
    #[error("serving the console failed: {0}")]
    Serve(String),
}
