//! The HTTP server: accepts connections and serves the router over HTTP/1.1 with hyper.
//!
//! `axum::serve` sets no timer, so hyper never times out a client that sends its request
//! headers slowly (slowloris). This loop is axum's own, with two additions: a header-read
//! timeout (`limits.header_timeout_secs`; hyper closes the connection when the headers have not
//! all arrived in time; the timer runs from the moment it waits for a request, so it also
//! closes a kept-alive connection left idle that long), and each request told its peer address
//! (`ConnectInfo`) for per-IP rate limits. The body-read and request deadlines are middleware
//! (`pacer_api::limits`).
//!
//! Shutdown is graceful, as with `axum::serve(…).with_graceful_shutdown`: once `shutdown`
//! completes no connection is accepted, idle keep-alive connections are closed, and requests in
//! flight finish before [`serve`] returns.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Serves `router` on `listener` until `shutdown` completes, then drains the connections.
///
/// # Errors
/// Never, today: a failed accept (out of file descriptors, …) is logged and retried, as axum does.
pub async fn serve(listener: TcpListener, router: Router, header_timeout: Duration, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(error = %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away or is cut off by the header timeout ends here; neither is
            // pacer's failure.
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection closed");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
