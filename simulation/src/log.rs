//! Node log lines stamped with the simulated time and the host that wrote them.
//!
//! Every turmoil host runs on a runtime of its own, and the node spawns its work as tasks
//! (which do not inherit a span), so the host is found through the current runtime's id.

use std::sync::Mutex;

use tokio::runtime::{Handle, Id};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// Runtime id and host name, added as hosts start (again after each restart).
static HOSTS: Mutex<Vec<(Id, String)>> = Mutex::new(Vec::new());

/// Records the current runtime as `name`'s, for [`SimTime`].
pub fn name_this_host(name: &str) {
    if let Ok(handle) = Handle::try_current() {
        let host = name.split(':').next().unwrap_or(name).to_string();
        let mut hosts = HOSTS.lock().expect("host names lock");
        hosts.retain(|(id, _)| *id != handle.id());
        hosts.push((handle.id(), host));
    }
}

/// The log line's timestamp: simulated seconds and the host, as the trace lines show them.
pub struct SimTime;

impl FormatTime for SimTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let host = Handle::try_current()
            .ok()
            .and_then(|handle| {
                let hosts = HOSTS.lock().ok()?;
                hosts
                    .iter()
                    .find(|(id, _)| *id == handle.id())
                    .map(|(_, host)| host.clone())
            })
            .unwrap_or_else(|| "-".to_string());
        match turmoil::sim_elapsed() {
            Some(elapsed) => write!(w, "{:9.3} {host:<4}", elapsed.as_secs_f64()),
            None => write!(w, "{:>9} {host:<4}", "-"),
        }
    }
}
