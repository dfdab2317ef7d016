//! Tags, enhanced fan-out consumers, encryption and enhanced monitoring: metadata-only
//! settings kept in the control plane.
//!
//! Changes are proposed as [`ControlCommand::Settings`] and applied by every node's replica
//! of the control state, so they survive restarts and read the same from every node;
//! reads come from this node's replica, like every other metadata read.

use std::collections::BTreeMap;

use strait_control::{ControlCommand, ControlError, ControlReply, SettingsCommand, SettingsError, StreamKey};
use strait_core::service::{Consumer, StreamExtras};
use strait_core::{Namespace, StraitError, StraitResult, StreamArn, StreamName};

use crate::operations::Operations;

impl Operations {
    /// Adds tags to a stream, overwriting existing keys.
    pub async fn add_tags(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        tags: BTreeMap<String, String>,
    ) -> StraitResult<()> {
        self.change_settings(namespace, stream, SettingsCommand::AddTags { tags })
            .await
    }

    /// Removes tags from a stream; unknown keys are ignored.
    pub async fn remove_tags(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        keys: Vec<String>,
    ) -> StraitResult<()> {
        self.change_settings(namespace, stream, SettingsCommand::RemoveTags { keys })
            .await
    }

    /// A stream's tags, in key order.
    pub fn list_tags(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
    ) -> StraitResult<BTreeMap<String, String>> {
        let key = existing_stream(self, namespace, stream)?;
        Ok(self
            .control()
            .view()
            .state
            .settings
            .get(&key)
            .map(|settings| settings.tags.clone())
            .unwrap_or_default())
    }

    /// Registers an enhanced fan-out consumer; returns it as committed.
    pub async fn register_consumer(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        name: &str,
    ) -> StraitResult<Consumer> {
        let command = SettingsCommand::RegisterConsumer {
            name: name.to_owned(),
            now_ms: self.clock().now_ms(),
        };
        self.change_settings(namespace, stream, command).await?;
        self.list_consumers(namespace, stream)?
            .into_iter()
            .find(|consumer| consumer.name == name)
            .ok_or_else(|| StraitError::internal("a registered consumer is missing from the metadata"))
    }

    /// Deregisters a consumer.
    pub async fn deregister_consumer(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        name: &str,
    ) -> StraitResult<()> {
        let command = SettingsCommand::DeregisterConsumer {
            name: name.to_owned(),
        };
        self.change_settings(namespace, stream, command).await
    }

    /// A stream's consumers, in name order.
    pub fn list_consumers(&self, namespace: &Namespace, stream: &StreamName) -> StraitResult<Vec<Consumer>> {
        let key = existing_stream(self, namespace, stream)?;
        let stream_arn = StreamArn::format(namespace, stream);
        Ok(self
            .control()
            .view()
            .state
            .settings
            .get(&key)
            .map(|settings| {
                settings
                    .consumers
                    .values()
                    .map(|consumer| Consumer {
                        name: consumer.name.clone(),
                        stream_arn: stream_arn.clone(),
                        created_at_ms: consumer.created_at_ms,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// A stream's encryption and enhanced-monitoring settings.
    pub fn stream_extras(&self, namespace: &Namespace, stream: &StreamName) -> StraitResult<StreamExtras> {
        let key = existing_stream(self, namespace, stream)?;
        Ok(self
            .control()
            .view()
            .state
            .settings
            .get(&key)
            .map(|settings| StreamExtras {
                encryption_key_id: settings.encryption_key_id.clone(),
                shard_level_metrics: settings.shard_level_metrics.iter().cloned().collect(),
            })
            .unwrap_or_default())
    }

    /// Turns a stream's encryption on with a key id, or off.
    pub async fn set_encryption(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        key_id: Option<String>,
    ) -> StraitResult<()> {
        self.change_settings(namespace, stream, SettingsCommand::SetEncryption { key_id })
            .await
    }

    /// Replaces a stream's enabled enhanced shard-level metrics.
    pub async fn set_shard_level_metrics(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        metrics: Vec<String>,
    ) -> StraitResult<()> {
        let metrics = metrics.into_iter().collect();
        self.change_settings(
            namespace,
            stream,
            SettingsCommand::SetShardLevelMetrics { metrics },
        )
        .await
    }

    async fn change_settings(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        command: SettingsCommand,
    ) -> StraitResult<()> {
        let key = existing_stream(self, namespace, stream)?;
        match self
            .control()
            .propose(ControlCommand::Settings { key, command })
            .await?
        {
            ControlReply::Done => Ok(()),
            ControlReply::Rejected(error) => Err(settings_error(error, namespace, stream)),
            other => Err(StraitError::internal(format!(
                "unexpected control reply {other:?}"
            ))),
        }
    }
}

fn existing_stream(
    operations: &Operations,
    namespace: &Namespace,
    stream: &StreamName,
) -> StraitResult<StreamKey> {
    let key = StreamKey {
        namespace: namespace.clone(),
        name: stream.clone(),
    };
    if operations.control().view().state.streams.contains_key(&key) {
        Ok(key)
    } else {
        Err(StraitError::stream_not_found(stream, &namespace.account))
    }
}

/// The Kinesis error for a refused settings change.
fn settings_error(error: ControlError, namespace: &Namespace, stream: &StreamName) -> StraitError {
    let account = &namespace.account;
    match error {
        ControlError::StreamNotFound(name) => StraitError::stream_not_found(&name, account),
        ControlError::Settings(SettingsError::TooManyTags(count)) => StraitError::invalid_argument(format!(
            "Failed to add tags to stream {stream} under account {account} because a given stream \
             cannot have more than {} tags ({count} requested).",
            strait_control::settings::MAX_TAGS
        )),
        ControlError::Settings(SettingsError::ConsumerExists(name)) => StraitError::resource_in_use(format!(
            "Consumer {name} under stream {stream} under account {account} already exists."
        )),
        ControlError::Settings(SettingsError::ConsumerNotFound(name)) => StraitError::resource_not_found(
            format!("Consumer {name} under stream {stream} under account {account} not found."),
        ),
        ControlError::Settings(SettingsError::TooManyConsumers) => StraitError::limit_exceeded(format!(
            "Stream {stream} under account {account} already has {} registered consumers.",
            strait_control::settings::MAX_CONSUMERS
        )),
        other => StraitError::internal(other.to_string()),
    }
}
