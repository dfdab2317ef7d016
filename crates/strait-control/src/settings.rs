//! Metadata-only settings: a stream's tags, enhanced fan-out consumers, encryption key,
//! enhanced shard-level metrics, resource policies, record size limit and warm throughput,
//! and an account's minimum throughput billing commitment.
//!
//! These settings change nothing about how records are stored or routed, but they must
//! survive node restarts and look the same from every node, so they are replicated in the
//! control log like the rest of the metadata: a [`SettingsCommand`] is proposed inside
//! [`ControlCommand::Settings`](crate::ControlCommand::Settings) and applied
//! deterministically to the stream's [`StreamSettings`]. A refused change (a consumer name
//! taken, too many tags) is a [`SettingsError`], committed as the command's reply like any
//! other deterministic error. A stream's settings are dropped with the stream.
//!
//! Account-level settings live in a separate map keyed by namespace ([`AccountSettings`],
//! changed by [`AccountCommand`]), not under a reserved stream key.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The most tags a stream may carry.
pub const MAX_TAGS: usize = 50;
/// The most consumers a stream may have registered.
pub const MAX_CONSUMERS: usize = 20;

/// A stream's tags and consumers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSettings {
    /// Tag key to value, in key order (ListTagsForStream's order).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Consumer name to consumer.
    #[serde(default)]
    pub consumers: BTreeMap<String, ConsumerMeta>,
    /// The KMS key id records are reported encrypted with, if encryption is on. Strait
    /// records the setting; it does not call KMS.
    #[serde(default)]
    pub encryption_key_id: Option<String>,
    /// The enhanced shard-level metrics enabled (names as Kinesis spells them).
    #[serde(default)]
    pub shard_level_metrics: BTreeSet<String>,
    /// The stream's resource policy document, verbatim. Strait stores it and evaluates
    /// nothing.
    #[serde(default)]
    pub policy: Option<String>,
    /// The record size limit in KiB, when changed from the default (1024).
    #[serde(default)]
    pub max_record_size_kib: Option<u32>,
    /// The warm throughput of an on-demand stream, in MiB/s, when one was asked for.
    #[serde(default)]
    pub warm_throughput_mibps: Option<u32>,
}

/// A registered enhanced fan-out consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerMeta {
    /// The consumer's name, unique within the stream.
    pub name: String,
    /// When it was registered, in milliseconds since the Unix epoch; its ARN ends in this
    /// time in seconds.
    pub created_at_ms: u64,
    /// The consumer's resource policy document, verbatim; dropped with the consumer.
    #[serde(default)]
    pub policy: Option<String>,
}

/// A change to a stream's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SettingsCommand {
    /// Adds tags, overwriting the values of existing keys.
    AddTags { tags: BTreeMap<String, String> },
    /// Removes tags; unknown keys are ignored.
    RemoveTags { keys: Vec<String> },
    /// Registers a consumer.
    RegisterConsumer { name: String, now_ms: u64 },
    /// Deregisters a consumer.
    DeregisterConsumer { name: String },
    /// Turns encryption on with a key id, or off.
    SetEncryption { key_id: Option<String> },
    /// Replaces the set of enhanced shard-level metrics.
    SetShardLevelMetrics { metrics: BTreeSet<String> },
    /// Attaches a resource policy to the stream (`consumer: None`) or to one of its
    /// consumers, or removes it (`policy: None`; removing a policy that is not there is
    /// refused).
    SetPolicy {
        consumer: Option<String>,
        policy: Option<String>,
    },
    /// Sets the record size limit, in KiB.
    SetMaxRecordSize { kib: u32 },
    /// Sets or clears the warm throughput, in MiB/s.
    SetWarmThroughput { mibps: Option<u32> },
}

/// Why a settings change was refused. Deterministic: part of the replicated reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum SettingsError {
    #[error("the stream would carry {0} tags, more than {MAX_TAGS}")]
    TooManyTags(usize),
    #[error("consumer {0} is already registered")]
    ConsumerExists(String),
    #[error("consumer {0} is not registered")]
    ConsumerNotFound(String),
    #[error("the stream already has {MAX_CONSUMERS} consumers")]
    TooManyConsumers,
    #[error("no resource policy is attached")]
    PolicyNotFound,
}

impl StreamSettings {
    /// Applies one change, or refuses it and changes nothing.
    pub fn apply(&mut self, command: &SettingsCommand) -> Result<(), SettingsError> {
        match command {
            SettingsCommand::AddTags { tags } => {
                let total = self
                    .tags
                    .keys()
                    .chain(tags.keys().filter(|k| !self.tags.contains_key(*k)))
                    .count();
                if total > MAX_TAGS {
                    return Err(SettingsError::TooManyTags(total));
                }
                self.tags.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            SettingsCommand::RemoveTags { keys } => {
                for key in keys {
                    self.tags.remove(key);
                }
            }
            SettingsCommand::RegisterConsumer { name, now_ms } => {
                if self.consumers.contains_key(name) {
                    return Err(SettingsError::ConsumerExists(name.clone()));
                }
                if self.consumers.len() >= MAX_CONSUMERS {
                    return Err(SettingsError::TooManyConsumers);
                }
                self.consumers.insert(
                    name.clone(),
                    ConsumerMeta {
                        name: name.clone(),
                        created_at_ms: *now_ms,
                        policy: None,
                    },
                );
            }
            SettingsCommand::DeregisterConsumer { name } => {
                self.consumers
                    .remove(name)
                    .ok_or_else(|| SettingsError::ConsumerNotFound(name.clone()))?;
            }
            SettingsCommand::SetEncryption { key_id } => self.encryption_key_id = key_id.clone(),
            SettingsCommand::SetShardLevelMetrics { metrics } => self.shard_level_metrics = metrics.clone(),
            SettingsCommand::SetPolicy { consumer, policy } => {
                let slot = match consumer {
                    None => &mut self.policy,
                    Some(name) => {
                        &mut self
                            .consumers
                            .get_mut(name)
                            .ok_or_else(|| SettingsError::ConsumerNotFound(name.clone()))?
                            .policy
                    }
                };
                if policy.is_none() && slot.is_none() {
                    return Err(SettingsError::PolicyNotFound);
                }
                *slot = policy.clone();
            }
            SettingsCommand::SetMaxRecordSize { kib } => self.max_record_size_kib = Some(*kib),
            SettingsCommand::SetWarmThroughput { mibps } => self.warm_throughput_mibps = *mibps,
        }
        Ok(())
    }

    /// Tells whether the settings hold nothing, so the stream's entry can be dropped.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
            && self.consumers.is_empty()
            && self.encryption_key_id.is_none()
            && self.shard_level_metrics.is_empty()
            && self.policy.is_none()
            && self.max_record_size_kib.is_none()
            && self.warm_throughput_mibps.is_none()
    }
}

/// How long an enabled minimum throughput billing commitment lasts at least, in ms: the
/// model documents 24 hours. A commitment disabled earlier stays in force until then
/// (`ENABLED_UNTIL_EARLIEST_ALLOWED_END`), and enabling it again before then cancels the
/// pending end.
pub const COMMITMENT_MINIMUM_MS: u64 = 24 * 3_600_000;

/// An account's settings in one region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSettings {
    /// The minimum throughput billing commitment, once it was ever enabled.
    pub commitment: Option<Commitment>,
}

/// A minimum throughput billing commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    /// Whether the account last enabled (rather than disabled) it.
    pub enabled: bool,
    /// When it was enabled (ms since the Unix epoch).
    pub started_at_ms: u64,
    /// The earliest time it may end.
    pub earliest_allowed_end_at_ms: u64,
    /// When it ends or ended, once disabled: the later of the disabling time and the
    /// earliest allowed end.
    pub ended_at_ms: Option<u64>,
}

impl Commitment {
    /// Tells whether the commitment is in force at `now_ms`.
    pub fn in_force_at(&self, now_ms: u64) -> bool {
        self.enabled || self.ended_at_ms.is_some_and(|end| end > now_ms)
    }
}

/// A change to an account's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountCommand {
    /// Enables or disables the minimum throughput billing commitment.
    SetBillingCommitment { enabled: bool, now_ms: u64 },
}

impl AccountSettings {
    /// Applies one change. Enabling an enabled commitment or disabling one that is not
    /// enabled changes nothing.
    pub fn apply(&mut self, command: &AccountCommand) {
        match command {
            AccountCommand::SetBillingCommitment {
                enabled: true,
                now_ms,
            } => match &mut self.commitment {
                Some(commitment) if commitment.enabled => {}
                // Re-enabled while still in force: the same commitment continues.
                Some(commitment) if commitment.in_force_at(*now_ms) => {
                    commitment.enabled = true;
                    commitment.ended_at_ms = None;
                }
                _ => {
                    self.commitment = Some(Commitment {
                        enabled: true,
                        started_at_ms: *now_ms,
                        earliest_allowed_end_at_ms: now_ms.saturating_add(COMMITMENT_MINIMUM_MS),
                        ended_at_ms: None,
                    });
                }
            },
            AccountCommand::SetBillingCommitment {
                enabled: false,
                now_ms,
            } => {
                if let Some(commitment) = self.commitment.as_mut().filter(|c| c.enabled) {
                    commitment.enabled = false;
                    commitment.ended_at_ms = Some((*now_ms).max(commitment.earliest_allowed_end_at_ms));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn tags_overwrite_and_remove() {
        let mut settings = StreamSettings::default();
        settings
            .apply(&SettingsCommand::AddTags {
                tags: tags(&[("a", "1"), ("b", "2")]),
            })
            .expect("fits");
        settings
            .apply(&SettingsCommand::AddTags {
                tags: tags(&[("a", "3")]),
            })
            .expect("fits");
        settings
            .apply(&SettingsCommand::RemoveTags {
                keys: vec!["b".into(), "missing".into()],
            })
            .expect("ignores unknown keys");
        assert_eq!(settings.tags, tags(&[("a", "3")]));
    }

    #[test]
    fn tag_limit_counts_only_new_keys() {
        let mut settings = StreamSettings::default();
        let full: BTreeMap<String, String> =
            (0..MAX_TAGS).map(|i| (format!("k{i}"), String::new())).collect();
        settings
            .apply(&SettingsCommand::AddTags { tags: full.clone() })
            .expect("exactly the limit");
        settings
            .apply(&SettingsCommand::AddTags { tags: full })
            .expect("overwriting adds nothing");
        let before = settings.clone();
        assert_eq!(
            settings.apply(&SettingsCommand::AddTags {
                tags: tags(&[("one-more", "")])
            }),
            Err(SettingsError::TooManyTags(MAX_TAGS + 1))
        );
        assert_eq!(settings, before, "a refused change changes nothing");
    }

    #[test]
    fn consumers_register_once_and_deregister() {
        let mut settings = StreamSettings::default();
        let register = SettingsCommand::RegisterConsumer {
            name: "app".into(),
            now_ms: 5,
        };
        settings.apply(&register).expect("new");
        assert_eq!(
            settings.apply(&register),
            Err(SettingsError::ConsumerExists("app".into()))
        );
        assert_eq!(settings.consumers["app"].created_at_ms, 5);
        let deregister = SettingsCommand::DeregisterConsumer { name: "app".into() };
        settings.apply(&deregister).expect("registered");
        assert_eq!(
            settings.apply(&deregister),
            Err(SettingsError::ConsumerNotFound("app".into()))
        );
        assert!(settings.is_empty());
    }

    #[test]
    fn encryption_and_metrics_are_replaced_whole() {
        let mut settings = StreamSettings::default();
        settings
            .apply(&SettingsCommand::SetEncryption {
                key_id: Some("alias/aws/kinesis".into()),
            })
            .expect("always applies");
        settings
            .apply(&SettingsCommand::SetShardLevelMetrics {
                metrics: BTreeSet::from(["IncomingBytes".to_owned()]),
            })
            .expect("always applies");
        assert!(!settings.is_empty());
        settings
            .apply(&SettingsCommand::SetEncryption { key_id: None })
            .expect("always applies");
        settings
            .apply(&SettingsCommand::SetShardLevelMetrics {
                metrics: BTreeSet::new(),
            })
            .expect("always applies");
        assert!(settings.is_empty());
    }

    #[test]
    fn policies_attach_to_the_stream_or_a_consumer() {
        let mut settings = StreamSettings::default();
        let set = |consumer: Option<&str>, policy: Option<&str>| SettingsCommand::SetPolicy {
            consumer: consumer.map(str::to_owned),
            policy: policy.map(str::to_owned),
        };
        assert_eq!(
            settings.apply(&set(None, None)),
            Err(SettingsError::PolicyNotFound)
        );
        settings.apply(&set(None, Some("{}"))).expect("attaches");
        assert_eq!(settings.policy.as_deref(), Some("{}"));
        assert_eq!(
            settings.apply(&set(Some("app"), Some("{}"))),
            Err(SettingsError::ConsumerNotFound("app".into()))
        );
        settings
            .apply(&SettingsCommand::RegisterConsumer {
                name: "app".into(),
                now_ms: 1,
            })
            .expect("new");
        settings
            .apply(&set(Some("app"), Some("{\"a\":1}")))
            .expect("attaches");
        assert_eq!(settings.consumers["app"].policy.as_deref(), Some("{\"a\":1}"));
        settings
            .apply(&SettingsCommand::DeregisterConsumer { name: "app".into() })
            .expect("registered");
        settings.apply(&set(None, None)).expect("removes");
        assert!(settings.is_empty(), "{settings:?}");
    }

    #[test]
    fn record_size_and_warm_throughput_are_kept_until_cleared() {
        let mut settings = StreamSettings::default();
        settings
            .apply(&SettingsCommand::SetMaxRecordSize { kib: 2048 })
            .expect("always applies");
        settings
            .apply(&SettingsCommand::SetWarmThroughput { mibps: Some(10) })
            .expect("always applies");
        assert_eq!(
            (settings.max_record_size_kib, settings.warm_throughput_mibps),
            (Some(2048), Some(10))
        );
        settings
            .apply(&SettingsCommand::SetWarmThroughput { mibps: None })
            .expect("always applies");
        assert_eq!(settings.warm_throughput_mibps, None);
    }

    #[test]
    fn a_commitment_disabled_early_runs_until_its_earliest_end() {
        let mut account = AccountSettings::default();
        let set = |enabled, now_ms| AccountCommand::SetBillingCommitment { enabled, now_ms };
        account.apply(&set(false, 5));
        assert_eq!(account.commitment, None, "disabling nothing changes nothing");
        account.apply(&set(true, 1_000));
        account.apply(&set(true, 2_000));
        let enabled = account.commitment.clone().expect("enabled");
        assert_eq!(enabled.started_at_ms, 1_000, "enabling again keeps the start");
        assert_eq!(enabled.earliest_allowed_end_at_ms, 1_000 + COMMITMENT_MINIMUM_MS);
        account.apply(&set(false, 3_000));
        let early = account.commitment.clone().expect("kept");
        assert_eq!(early.ended_at_ms, Some(1_000 + COMMITMENT_MINIMUM_MS));
        assert!(early.in_force_at(3_001));
        assert!(!early.in_force_at(1_000 + COMMITMENT_MINIMUM_MS));
        let late = 1_000 + 2 * COMMITMENT_MINIMUM_MS;
        account.apply(&set(true, late));
        account.apply(&set(false, late + 1));
        let fresh = account.commitment.expect("kept");
        assert_eq!(fresh.started_at_ms, late, "a lapsed commitment starts anew");
        assert_eq!(fresh.ended_at_ms, Some(late + COMMITMENT_MINIMUM_MS));
    }
}
