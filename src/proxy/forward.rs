//! The API proxy's data path: accept, choose a backend, dial it (the next one if the dial
//! fails), then copy bytes both ways until either side closes or the backend is declared
//! unhealthy or leaves the list.
//!
//! Closing a pinned connection on purpose is the point: a kubelet's connection to a control
//! plane that vanished (no RST: the machine is off) would otherwise hang until TCP gives up,
//! many minutes; closed, the kubelet reconnects at once and lands on a healthy backend.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use super::pool::Pool;

/// Accept connections forever, each handled by its own task.
pub async fn serve(listener: TcpListener, pool: Arc<Pool>, dial_timeout: Duration) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(handle(client, Arc::clone(&pool), dial_timeout));
            }
            Err(e) => {
                // Out of file descriptors and the like: pause instead of spinning.
                super::log(&format!("accept: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One client connection.
pub async fn handle(mut client: TcpStream, pool: Arc<Pool>, dial_timeout: Duration) {
    let _ = client.set_nodelay(true);
    let mut tried = Vec::new();
    loop {
        let Some(mut lease) = pool.pick(&tried) else {
            super::log("no backend could be dialled; the connection is closed");
            return;
        };
        let upstream = match tokio::time::timeout(dial_timeout, TcpStream::connect(&lease.address)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                report_dial(&pool, &lease.address, e.to_string());
                tried.push(lease.id);
                continue;
            }
            Err(_) => {
                report_dial(&pool, &lease.address, format!("dial timed out after {} ms", dial_timeout.as_millis()));
                tried.push(lease.id);
                continue;
            }
        };
        let _ = upstream.set_nodelay(true);
        let mut upstream = upstream;
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
            _ = lease.closed() => {}
        }
        // Dropping both streams closes them; dropping the lease releases the count.
        return;
    }
}

/// A failed dial counts as a failed check: a backend refusing connections is found before the
/// next check round.
fn report_dial(pool: &Pool, address: &str, error: String) {
    if let Some(h) = pool.report(address, Err(format!("dial: {error}"))) {
        super::log(&format!("backend {address} is now {h:?}: dial: {error}"));
    }
}
