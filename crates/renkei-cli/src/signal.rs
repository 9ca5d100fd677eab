//! The shutdown signal of the long-running commands (`renkei hub`, `renkei gateway`,
//! `renkei demo --serve`): Ctrl-C (SIGINT) and, on unix, SIGTERM (what systemd and
//! container runtimes send) both start the same graceful stop.

use std::future::Future;

/// Listens for SIGINT and SIGTERM from this call on (so call it before announcing that the
/// server is up: a signal between the two would otherwise kill the process the default
/// way); the future resolves on the first, naming it. Must be called inside the runtime. A
/// signal that cannot be listened for is logged and left to its default action.
pub fn shutdown() -> impl Future<Output = &'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let listen = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for {name}");
                None
            }
        };
        async fn recv(s: Option<Signal>) {
            match s {
                Some(mut s) => {
                    if s.recv().await.is_none() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        }
        let int = listen(SignalKind::interrupt(), "SIGINT");
        let term = listen(SignalKind::terminate(), "SIGTERM");
        async move {
            tokio::select! {
                () = recv(int) => "SIGINT",
                () = recv(term) => "SIGTERM",
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            "Ctrl-C"
        }
    }
}
