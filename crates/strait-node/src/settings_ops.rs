//! Tags, enhanced fan-out consumers, encryption, enhanced monitoring, resource policies,
//! record size limits, stream modes, warm throughput and account settings: metadata kept
//! in the control plane.
//!
//! Changes are proposed as [`ControlCommand::Settings`] and applied by every node's replica
//! of the control state, so they survive restarts and read the same from every node;
//! reads come from this node's replica, like every other metadata read.

use std::collections::BTreeMap;

use strait_control::{
    AccountCommand, ControlCommand, ControlError, ControlReply, SettingsCommand, SettingsError, StreamKey,
};
use strait_core::service::{
    AccountSettings, CommitmentStatus, Consumer, DEFAULT_MAX_RECORD_SIZE_KIB, MAX_RECORD_SIZE_KIB_RANGE,
    PolicyTarget, StreamExtras, UpdateStreamModeRequest,
};
use strait_core::{Namespace, StraitError, StraitResult, StreamArn, StreamMode, StreamName, Violation};

use crate::operations::{Operations, control_error};

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
    pub async fn list_tags(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
    ) -> StraitResult<BTreeMap<String, String>> {
        let key = self.existing_stream(namespace, stream).await?;
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
        self.list_consumers(namespace, stream)
            .await?
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
    pub async fn list_consumers(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
    ) -> StraitResult<Vec<Consumer>> {
        let key = self.existing_stream(namespace, stream).await?;
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

    /// A stream's encryption, enhanced-monitoring, record size and warm throughput
    /// settings.
    pub async fn stream_extras(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
    ) -> StraitResult<StreamExtras> {
        let key = self.existing_stream(namespace, stream).await?;
        Ok(self.stream_settings(&key))
    }

    /// A stream's settings as this node's metadata has them (defaults for a stream without
    /// any).
    pub(crate) fn stream_settings(&self, key: &StreamKey) -> StreamExtras {
        let view = self.control().view();
        let Some(settings) = view.state.settings.get(key) else {
            return StreamExtras::default();
        };
        StreamExtras {
            encryption_key_id: settings.encryption_key_id.clone(),
            shard_level_metrics: settings.shard_level_metrics.iter().cloned().collect(),
            max_record_size_kib: settings
                .max_record_size_kib
                .unwrap_or(DEFAULT_MAX_RECORD_SIZE_KIB),
            warm_throughput_mibps: settings.warm_throughput_mibps,
        }
    }

    /// Switches a stream between provisioned and on-demand capacity. Warm throughput is
    /// only for a switch to on-demand; the stream must be ACTIVE.
    pub async fn update_stream_mode(&self, request: UpdateStreamModeRequest) -> StraitResult<()> {
        let UpdateStreamModeRequest {
            namespace,
            stream,
            mode,
            warm_throughput_mibps,
        } = request;
        let key = self.existing_stream(&namespace, &stream).await?;
        if warm_throughput_mibps.is_some() && mode != StreamMode::OnDemand {
            return Err(StraitError::invalid_argument(
                "WarmThroughputMiBps can only be specified when switching a stream to ON_DEMAND mode.",
            ));
        }
        if warm_throughput_mibps.is_some() && !self.account_settings(&namespace).commitment_in_force() {
            return Err(StraitError::commitment_required(&namespace.account));
        }
        let command = ControlCommand::SetStreamMode {
            key,
            mode,
            warm_throughput_mibps,
        };
        match self.control().propose(command).await? {
            ControlReply::Done => Ok(()),
            ControlReply::Rejected(error) => Err(control_error(error, &namespace)),
            other => Err(StraitError::internal(format!(
                "unexpected control reply {other:?}"
            ))),
        }
    }

    /// Sets a stream's record size limit in KiB. The range is the model's, so a value
    /// outside it is a ValidationException even if a front door let it through.
    pub async fn set_max_record_size(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        kib: u32,
    ) -> StraitResult<()> {
        check_max_record_size(kib)?;
        self.change_settings(namespace, stream, SettingsCommand::SetMaxRecordSize { kib })
            .await
    }

    /// Sets an on-demand stream's warm throughput; the account's minimum throughput
    /// billing commitment must be in force.
    pub async fn set_warm_throughput(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        mibps: u32,
    ) -> StraitResult<()> {
        let meta = self.stream(namespace, stream).await?;
        let account = &namespace.account;
        if meta.mode != StreamMode::OnDemand {
            return Err(StraitError::invalid_argument(format!(
                "Warm throughput can only be set on a stream in ON_DEMAND mode. Stream {stream} under \
                 account {account} is in PROVISIONED mode."
            )));
        }
        if !self.account_settings(namespace).commitment_in_force() {
            return Err(StraitError::commitment_required(account));
        }
        let command = SettingsCommand::SetWarmThroughput { mibps: Some(mibps) };
        self.change_settings(namespace, stream, command).await
    }

    /// Attaches, replaces or (with `None`) removes the resource policy of a stream or
    /// consumer.
    pub async fn set_resource_policy(
        &self,
        target: PolicyTarget,
        policy: Option<String>,
    ) -> StraitResult<()> {
        if policy.is_none() && self.resource_policy(target.clone()).await?.is_none() {
            return Err(StraitError::resource_not_found(format!(
                "No resource policy found for resource ARN {}.",
                policy_arn(&target)
            )));
        }
        let consumer = self.policy_consumer(&target).await?;
        let command = SettingsCommand::SetPolicy { consumer, policy };
        self.change_settings(&target.namespace, &target.stream, command)
            .await
    }

    /// The resource policy of a stream or consumer, if one is attached.
    pub async fn resource_policy(&self, target: PolicyTarget) -> StraitResult<Option<String>> {
        let consumer = self.policy_consumer(&target).await?;
        let key = self.existing_stream(&target.namespace, &target.stream).await?;
        let view = self.control().view();
        let settings = view.state.settings.get(&key);
        Ok(match consumer {
            None => settings.and_then(|s| s.policy.clone()),
            Some(name) => settings
                .and_then(|s| s.consumers.get(&name))
                .and_then(|c| c.policy.clone()),
        })
    }

    /// The consumer a policy target names, checked to be registered (with the
    /// registration time its ARN ends in).
    async fn policy_consumer(&self, target: &PolicyTarget) -> StraitResult<Option<String>> {
        let Some((name, created_s)) = &target.consumer else {
            return Ok(None);
        };
        let registered = self
            .list_consumers(&target.namespace, &target.stream)
            .await?
            .into_iter()
            .any(|c| &c.name == name && c.created_at_ms / 1000 == *created_s);
        if !registered {
            return Err(StraitError::resource_not_found(format!(
                "Consumer {name} under stream {} under account {} not found.",
                target.stream, target.namespace.account
            )));
        }
        Ok(Some(name.clone()))
    }

    /// An account's settings in the namespace's region, as of this node's clock.
    pub fn account_settings(&self, namespace: &Namespace) -> AccountSettings {
        let now_ms = self.clock().now_ms();
        let view = self.control().view();
        let commitment = view
            .state
            .accounts
            .get(namespace)
            .and_then(|account| account.commitment.clone());
        match commitment {
            None => AccountSettings {
                commitment_status: CommitmentStatus::Disabled,
                commitment_started_at_ms: None,
                commitment_ended_at_ms: None,
                commitment_earliest_allowed_end_at_ms: None,
            },
            Some(c) => AccountSettings {
                commitment_status: if c.enabled {
                    CommitmentStatus::Enabled
                } else if c.in_force_at(now_ms) {
                    CommitmentStatus::EnabledUntilEarliestAllowedEnd
                } else {
                    CommitmentStatus::Disabled
                },
                commitment_started_at_ms: Some(c.started_at_ms),
                commitment_ended_at_ms: c.ended_at_ms,
                commitment_earliest_allowed_end_at_ms: Some(c.earliest_allowed_end_at_ms),
            },
        }
    }

    /// Enables or disables the account's minimum throughput billing commitment.
    pub async fn set_billing_commitment(
        &self,
        namespace: &Namespace,
        enabled: bool,
    ) -> StraitResult<AccountSettings> {
        let command = ControlCommand::Account {
            namespace: namespace.clone(),
            command: AccountCommand::SetBillingCommitment {
                enabled,
                now_ms: self.clock().now_ms(),
            },
        };
        match self.control().propose(command).await? {
            ControlReply::Done => Ok(self.account_settings(namespace)),
            other => Err(StraitError::internal(format!(
                "unexpected control reply {other:?}"
            ))),
        }
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
        let key = self.existing_stream(namespace, stream).await?;
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

impl Operations {
    /// The key of an existing stream, catching up with the control leader first when this
    /// node does not know the stream yet.
    async fn existing_stream(&self, namespace: &Namespace, stream: &StreamName) -> StraitResult<StreamKey> {
        self.stream(namespace, stream).await.map(|meta| meta.key)
    }
}

/// Checks a record size limit against the model's range (1024 to 10240 KiB).
fn check_max_record_size(kib: u32) -> StraitResult<()> {
    let field = "maxRecordSizeInKiB";
    let violation = if kib < *MAX_RECORD_SIZE_KIB_RANGE.start() {
        Violation::min_value(kib, field, MAX_RECORD_SIZE_KIB_RANGE.start())
    } else if kib > *MAX_RECORD_SIZE_KIB_RANGE.end() {
        Violation::max_value(kib, field, MAX_RECORD_SIZE_KIB_RANGE.end())
    } else {
        return Ok(());
    };
    Err(StraitError::validation(vec![violation]))
}

/// The ARN a policy target names, for error messages.
fn policy_arn(target: &PolicyTarget) -> String {
    let stream_arn = StreamArn::format(&target.namespace, &target.stream);
    match &target.consumer {
        None => stream_arn,
        Some((name, created_s)) => format!("{stream_arn}/consumer/{name}:{created_s}"),
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
        ControlError::Settings(SettingsError::PolicyNotFound) => {
            StraitError::resource_not_found("No resource policy found.")
        }
        ControlError::Settings(SettingsError::TooManyConsumers) => StraitError::limit_exceeded(format!(
            "Stream {stream} under account {account} already has {} registered consumers.",
            strait_control::settings::MAX_CONSUMERS
        )),
        other => StraitError::internal(other.to_string()),
    }
}
