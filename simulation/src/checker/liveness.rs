//! **After the faults stop, the cluster converges and serves within a bound**: a write to
//! every open shard is acknowledged within the recovery bound after healing, and the
//! final read completes.

use crate::history::History;

pub fn check(history: &History) -> Vec<String> {
    let mut out: Vec<String> = history.run_errors.clone();
    if let Some(after) = history.recovered_after
        && after > history.recovery_bound
    {
        out.push(format!(
            "recovered {:.1}s after healing, bound {:.1}s",
            after.as_secs_f64(),
            history.recovery_bound.as_secs_f64()
        ));
    }
    if history.recovered_after.is_none() && out.is_empty() {
        out.push("the cluster never served writes again after healing".to_string());
    }
    if history.read.is_none() && out.is_empty() {
        out.push("the final read did not finish".to_string());
    }
    out
}
