//! End-to-end tests against real `strait` processes on loopback.
//!
//! Files are numbered from basic to involved: `t01` exercises one node through the gRPC
//! API, `t02` is a three-node cluster losing a member under load, `t03` makes a replica
//! catch up by snapshot, `t04` kills a single node repeatedly while it is written to,
//! `t05` reshards under load, `t06` adds, loses, restores and decommissions nodes under load,
//! `t07` checks the probes, the metrics and a graceful stop, `t08` lets idle groups go
//! quiet and kills the node leading them.

mod scrape;
mod support;
mod t01_single_node;
mod t02_failover_under_load;
mod t03_snapshot_catch_up;
mod t04_crash_during_writes;
mod t05_reshard_under_load;
mod t06_membership;
mod t07_operate;
mod t08_quiet_groups;
