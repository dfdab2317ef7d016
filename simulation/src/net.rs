//! gRPC over turmoil's simulated TCP: the node's dialer and its incoming connections.

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use hyper_util::rt::TokioIo;
use strait_raft::network::Dialer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint, Uri};

/// The port every simulated node listens on.
pub const PORT: u16 = 7000;

/// Dials peers through turmoil's network. A lost segment wedges a simulated TCP stream
/// for good (turmoil does not retransmit), so keep-alives are short: they close a wedged
/// connection and the next call dials a new one.
///
/// A connect that fails (the peer crashed or is cut off) keeps its local port in turmoil
/// for the rest of the run, and a host has only 16,384 of them. A real kernel frees the
/// port, so this is an artefact of the simulator, not a node bug; the dialer keeps it from
/// ending a long run by waiting [`CONNECT_BACKOFF`] after a failed connect to a peer
/// before trying that peer again (calls in between fail at once, as a refused connect).
#[derive(Debug, Default, Clone)]
pub struct SimDialer {
    /// Per `host:port`, the instant before which no new connect is attempted.
    backoff: Arc<Mutex<BTreeMap<String, Instant>>>,
}

/// How long a peer that refused a connect is left alone.
const CONNECT_BACKOFF: Duration = Duration::from_millis(250);

impl SimDialer {
    async fn connect(&self, authority: String) -> io::Result<turmoil::net::TcpStream> {
        let now = Instant::now();
        if let Some(until) = self.backoff.lock().expect("dialer lock").get(&authority)
            && now < *until
        {
            return Err(io::Error::new(io::ErrorKind::ConnectionRefused, authority));
        }
        let connected = turmoil::net::TcpStream::connect(authority.as_str()).await;
        let mut backoff = self.backoff.lock().expect("dialer lock");
        match &connected {
            Ok(_) => backoff.remove(&authority),
            Err(_) => backoff.insert(authority, Instant::now() + CONNECT_BACKOFF),
        };
        connected
    }
}

impl Dialer for SimDialer {
    fn dial(&self, address: &str) -> Result<Channel, tonic::transport::Error> {
        let dialer = self.clone();
        Ok(
            endpoint(address)?.connect_with_connector_lazy(tower::service_fn(move |uri: Uri| {
                let dialer = dialer.clone();
                async move {
                    let authority = uri.authority().map(|a| a.to_string()).ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "uri without authority")
                    })?;
                    let stream = dialer.connect(authority).await?;
                    Ok::<_, io::Error>(TokioIo::new(stream))
                }
            })),
        )
    }
}

fn endpoint(address: &str) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(format!("http://{address}"))?
        .connect_timeout(Duration::from_secs(1))
        .http2_keep_alive_interval(Duration::from_secs(1))
        .keep_alive_timeout(Duration::from_secs(2))
        .keep_alive_while_idle(true))
}

/// One accepted simulated connection, as tonic's server wants it.
pub struct SimConnection(turmoil::net::TcpStream);

impl Connected for SimConnection {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for SimConnection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimConnection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// The connections a simulated listener accepts, as a stream for `serve_with`.
pub fn incoming(listener: turmoil::net::TcpListener) -> impl Stream<Item = io::Result<SimConnection>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| SimConnection(stream));
        Some((accepted, listener))
    })
}
