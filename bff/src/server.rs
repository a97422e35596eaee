//! The HTTP server loop: hyper with a deadline for a connection's first request head, and
//! WebSocket upgrades.
//! (`axum::serve` gives hyper no timer, so hyper's header read timeout never fires there, and a
//! client that stops in the middle of its request head holds its connection forever.)

use axum::body::Body;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

/// Serves `app` on `listener` until `shutdown` resolves, then lets every connection finish what
/// it is answering and returns once all are closed. A client that has not sent its first
/// request head whole within `header_timeout` of its first byte is disconnected.
pub async fn serve_http(
    listener: TcpListener,
    app: axum::Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    // Connections hold a receiver each; `closed()` on the sender waits for the last to go.
    let (signal_tx, signal_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    eprintln!("tessera-bff: accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // hyper's own `header_read_timeout` also ends idle keep-alive connections, and a
        // browser's preconnected ones, and Chromium then fails a `PUT` it sends on such a
        // socket as it closes ("Failed to fetch", not retried). So the deadline here runs from
        // the first byte of a connection's first request to the end of its head: the window a
        // slow client holds a connection open with.
        let head_arrived = Arc::new(Notify::new());
        let arrived = head_arrived.clone();
        let service =
            TowerToHyperService::new(app.clone().map_request(move |req: Request<Incoming>| {
                arrived.notify_one();
                req.map(Body::new)
            }));
        let mut signal = signal_rx.clone();
        tokio::spawn(async move {
            let mut first = [0u8; 1];
            tokio::select! {
                peeked = stream.peek(&mut first) => {
                    if !matches!(peeked, Ok(n) if n > 0) {
                        return; // closed before asking anything
                    }
                }
                _ = signal.changed() => return,
            }
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new());
            let mut conn =
                pin!(builder.serve_connection_with_upgrades(TokioIo::new(stream), service));
            let mut deadline = pin!(tokio::time::sleep(header_timeout));
            let mut head_seen = false;
            let mut shutting_down = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    _ = head_arrived.notified(), if !head_seen => head_seen = true,
                    // Dropping the connection closes it.
                    _ = deadline.as_mut(), if !head_seen => break,
                    _ = signal.changed(), if !shutting_down => {
                        shutting_down = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(signal);
        });
    }
    drop(listener);
    drop(signal_rx);
    // Tell every connection, then wait for each to finish.
    let _ = signal_tx.send(());
    signal_tx.closed().await;
}
