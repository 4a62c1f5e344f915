//! The binary: signals, run, exit code. Everything else is in the library.

#[tokio::main]
async fn main() {
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => eprintln!("received SIGTERM: stopping the rollout and leaving it resumable"),
            _ = int.recv() => eprintln!("received SIGINT: stopping the rollout and leaving it resumable"),
        }
        let _ = cancel_tx.send(true);
    });
    let code = rolling_update_action::run::run(cancel_rx).await;
    std::process::exit(code);
}
