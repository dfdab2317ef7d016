//! Invariants over a recorded [`History`], one module per property.
//!
//! The checker trusts only what clients were told: an acknowledgment is a promise; a
//! put that timed out or failed is unknown (it may or may not be stored), never absent.

use std::fmt;

use crate::history::History;

pub mod acked_durable;
pub mod arrival_order;
pub mod coverage;
pub mod key_lineage_order;
pub mod lineage_once;
pub mod liveness;
pub mod sequence_order;
pub mod unknown_puts;

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The invariant's module name.
    pub invariant: &'static str,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

/// At most this many violations are reported per invariant, then a count of the rest.
const MAX_PER_INVARIANT: usize = 8;

/// One invariant: the details of every violation found.
type Check = fn(&History) -> Vec<String>;

/// Runs every invariant over `history`.
pub fn check(history: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    let checks: [(&'static str, Check); 8] = [
        ("acked_durable", acked_durable::check),
        ("sequence_order", sequence_order::check),
        ("key_lineage_order", key_lineage_order::check),
        ("arrival_order", arrival_order::check),
        ("coverage", coverage::check),
        ("lineage_once", lineage_once::check),
        ("unknown_puts", unknown_puts::check),
        ("liveness", liveness::check),
    ];
    for (invariant, check) in checks {
        let details = check(history);
        let extra = details.len().saturating_sub(MAX_PER_INVARIANT);
        for detail in details.into_iter().take(MAX_PER_INVARIANT) {
            out.push(Violation { invariant, detail });
        }
        if extra > 0 {
            out.push(Violation {
                invariant,
                detail: format!("… and {extra} more"),
            });
        }
    }
    out
}
