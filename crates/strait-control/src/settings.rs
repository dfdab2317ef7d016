//! A stream's metadata-only settings: tags, enhanced fan-out consumers, the encryption key
//! and the enhanced shard-level metrics.
//!
//! These settings change nothing about how records are stored or routed, but they must
//! survive node restarts and look the same from every node, so they are replicated in the
//! control log like the rest of the metadata: a [`SettingsCommand`] is proposed inside
//! [`ControlCommand::Settings`](crate::ControlCommand::Settings) and applied
//! deterministically to the stream's [`StreamSettings`]. A refused change (a consumer name
//! taken, too many tags) is a [`SettingsError`], committed as the command's reply like any
//! other deterministic error. A stream's settings are dropped with the stream.
//!
//! Account-level settings, if added, belong in a separate map keyed by namespace rather
//! than under a reserved stream key.

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
}

/// A registered enhanced fan-out consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerMeta {
    /// The consumer's name, unique within the stream.
    pub name: String,
    /// When it was registered, in milliseconds since the Unix epoch; its ARN ends in this
    /// time in seconds.
    pub created_at_ms: u64,
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
        }
        Ok(())
    }

    /// Tells whether the settings hold nothing, so the stream's entry can be dropped.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
            && self.consumers.is_empty()
            && self.encryption_key_id.is_none()
            && self.shard_level_metrics.is_empty()
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
}
