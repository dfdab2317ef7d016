//! The set of nodes a client may talk to, and which one it prefers.
//!
//! A client starts from the endpoints it was given and learns the rest of the cluster from
//! the first node that answers ClusterStatus, so that it keeps working after the node it
//! started with is gone. Each endpoint owns one tonic [`Channel`], created lazily on first use
//! (creating one needs a Tokio runtime; building a client does not) and reused for every call
//! after that: a channel multiplexes concurrent calls over one HTTP/2 connection and
//! reconnects by itself after the connection drops.
//!
//! The set has a *preferred* endpoint that every call tries first. A call that fails on it
//! for a reason another node could cure (a refused connection, a timeout, UNAVAILABLE) moves
//! the preference to the next endpoint, so all later calls follow without each having to
//! discover the failure again.

use std::time::Duration;

use strait_proto::http2;
use tonic::transport::{Channel, Endpoint};

use crate::error::ClientError;

/// The largest message the client accepts: a GetRecords page can hold up to 10 MiB of data
/// plus framing, well above tonic's default of 4 MiB.
pub(crate) const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// How a channel is set up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelSettings {
    pub(crate) connect_timeout: Duration,
}

/// One node's address and its channel, once created.
#[derive(Debug)]
struct Entry {
    uri: String,
    endpoint: Endpoint,
    channel: Option<Channel>,
}

/// The endpoints a client knows, in the order they are tried.
#[derive(Debug)]
pub(crate) struct EndpointSet {
    entries: Vec<Entry>,
    preferred: usize,
    settings: ChannelSettings,
}

impl EndpointSet {
    /// Builds the set from the endpoints a caller gave. At least one is required.
    pub(crate) fn new(uris: &[String], settings: ChannelSettings) -> Result<EndpointSet, ClientError> {
        let mut set = EndpointSet {
            entries: Vec::new(),
            preferred: 0,
            settings,
        };
        for uri in uris {
            set.add(uri)?;
        }
        if set.entries.is_empty() {
            return Err(ClientError::invalid_argument("no endpoints were given"));
        }
        Ok(set)
    }

    /// Adds an endpoint unless it is already known; returns whether it was added. A bare
    /// `host:port`, as ClusterStatus reports addresses, is taken as `http://host:port`.
    pub(crate) fn add(&mut self, uri: &str) -> Result<bool, ClientError> {
        let uri = normalize_uri(uri)?;
        if self.entries.iter().any(|entry| entry.uri == uri) {
            return Ok(false);
        }
        let endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|error| {
                ClientError::invalid_argument(format!("endpoint {uri} is not a valid URI: {error}"))
            })?
            .connect_timeout(self.settings.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .initial_connection_window_size(http2::CONNECTION_WINDOW)
            .initial_stream_window_size(http2::STREAM_WINDOW)
            .max_frame_size(http2::MAX_FRAME);
        self.entries.push(Entry {
            uri,
            endpoint,
            channel: None,
        });
        Ok(true)
    }

    /// Returns how many endpoints are known.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns the preferred endpoint: its index, its URI and its channel.
    pub(crate) fn preferred(&mut self) -> (usize, String, Channel) {
        let index = self.preferred;
        (index, self.entries[index].uri.clone(), self.channel_at(index))
    }

    /// Returns the index and channel of the endpoint with URI `uri` (normalized), when the
    /// set knows it.
    pub(crate) fn find(&mut self, uri: &str) -> Option<(usize, Channel)> {
        let index = self.entries.iter().position(|entry| entry.uri == uri)?;
        Some((index, self.channel_at(index)))
    }

    fn channel_at(&mut self, index: usize) -> Channel {
        let entry = &mut self.entries[index];
        entry
            .channel
            .get_or_insert_with(|| entry.endpoint.connect_lazy())
            .clone()
    }

    /// Moves the preference past `index` after a call failed there. When another caller has
    /// already moved it, nothing changes, so concurrent failures skip one endpoint, not many.
    pub(crate) fn fail_over_from(&mut self, index: usize) {
        if self.preferred == index {
            self.preferred = (index + 1) % self.entries.len();
        }
    }

    /// Returns every known endpoint URI, in order.
    pub(crate) fn uris(&self) -> Vec<String> {
        self.entries.iter().map(|entry| entry.uri.clone()).collect()
    }
}

/// Turns `host:port` or `http://host:port/` into `http://host:port`.
pub(crate) fn normalize_uri(uri: &str) -> Result<String, ClientError> {
    let trimmed = uri.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(ClientError::invalid_argument("an endpoint is empty"));
    }
    if trimmed.contains("://") {
        Ok(trimmed.to_owned())
    } else {
        Ok(format!("http://{trimmed}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ChannelSettings {
        ChannelSettings {
            connect_timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn bare_addresses_become_http_uris() {
        assert_eq!(
            normalize_uri("127.0.0.1:7001").expect("valid"),
            "http://127.0.0.1:7001"
        );
        assert_eq!(
            normalize_uri(" http://node-2:7002/ ").expect("valid"),
            "http://node-2:7002"
        );
        assert!(normalize_uri("  ").is_err());
    }

    #[test]
    fn known_endpoints_are_not_added_twice() {
        let mut set = EndpointSet::new(&["http://127.0.0.1:7001".into()], settings()).expect("valid");
        assert!(!set.add("127.0.0.1:7001").expect("valid"));
        assert!(set.add("127.0.0.1:7002").expect("valid"));
        assert_eq!(set.uris(), vec!["http://127.0.0.1:7001", "http://127.0.0.1:7002"]);
    }

    #[test]
    fn failing_over_moves_the_preference_once() {
        let uris = ["a:1".to_owned(), "b:2".to_owned(), "c:3".to_owned()];
        let mut set = EndpointSet::new(&uris, settings()).expect("valid");
        set.fail_over_from(0);
        // A second caller that also failed on endpoint 0 does not skip endpoint 1.
        set.fail_over_from(0);
        assert_eq!(set.preferred, 1);
        set.fail_over_from(1);
        set.fail_over_from(2);
        assert_eq!(set.preferred, 0);
    }

    #[test]
    fn an_empty_list_is_rejected() {
        assert!(EndpointSet::new(&[], settings()).is_err());
    }
}
