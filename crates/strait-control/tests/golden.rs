//! Golden scripts for the control-plane state machine.
//!
//! Each file in `tests/scripts/` is a series of blocks: commands, a line `---`, then the
//! expected output, ended by a blank line. Lines starting with `#` are comments. The runner
//! applies each command to a [`ControlState`], renders the reply, and after every block
//! renders the whole state. With `UPDATE_GOLDENFILES=1` it rewrites the expected sections
//! instead of comparing them, so a change in behaviour shows up as a diff of the scripts.
//!
//! After every command the runner checks the invariants that hold whatever the script
//! does: the open shards of every ACTIVE or UPDATING stream cover the hash key space
//! exactly once, and a group id once given to a shard is never given to another.
//!
//! Commands (times take `h`, `s` or `ms` suffixes; keys are decimal or `[m*]2^k[±n]`):
//!
//! ```text
//! bootstrap nodes=1,2,3
//! create-stream NAME shards=N [now=T] [retention=H] [replicas=1,2,3] [mode=ON_DEMAND]
//! activate NAME [incarnation=I]
//! delete NAME
//! split NAME shard=S [at=KEY] [now=T] [replicas=1,2,3]      at defaults to the midpoint
//! merge NAME shard=S adjacent=A [now=T] [replicas=1,2,3]
//! complete NAME intent=N endings=S@INDEX.OFFSET,... [now=T]
//! set-retention NAME hours=H now=T
//! horizon NAME now=T                                         the retention horizon at T
//! add-node id=N [address=HOST:PORT]                           a node joins
//! initialized groups=G,...                                   these groups have had a leader
//! move group=G from=N to=M                                    starts a replica move
//! retired group=G node=N                                      the group's leader retired N
//! deleted group=G node=N                                      N deleted its retired copy
//! drain id=N                                                  starts decommissioning N
//! remove-node id=N                                            removes a drained node
//! plan-moves [down=N,...] [limit=K]                           what the rebalancer would move
//! ```
//!
//! Also checked after every command: no group names a node twice (as replica or retiring),
//! and every replica is on a member.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use strait_control::{
    ControlCommand, ControlReply, ControlState, NodeInfo, NodeState, PlannedChild, ShardMeta, StreamKey,
    StreamMeta,
};
use strait_core::{
    AccountId, HashKey, HashKeyRange, Namespace, RecordPosition, Region, ShardId, StreamIncarnation,
    StreamMode, StreamName, StreamStatus,
};

const HOUR_MS: u64 = 3_600_000;

macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        const SCRIPTS: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_script(stringify!($name));
            }
        )*
    };
}

scripts!(create, split, merge, recreate, retention, membership);

#[test]
fn every_script_is_run() {
    let mut found: Vec<String> = std::fs::read_dir(scripts_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut listed: Vec<String> = SCRIPTS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed, "add every script in tests/scripts to scripts!()");
}

/// The scripts' key notation reads back what it renders.
#[test]
fn key_notation_round_trips() {
    let keys = [
        0,
        1,
        2,
        1 << 64,
        (1 << 127) - 1,
        1 << 127,
        3 << 126,
        (3 << 126) - 1,
        u128::MAX,
    ];
    for key in keys
        .into_iter()
        .chain(HashKeyRange::even_split(3).iter().map(|r| r.end.0))
    {
        let text = fmt_key(HashKey(key));
        assert_eq!(parse_key(&text), Ok(HashKey(key)), "{text}");
    }
    assert_eq!(parse_key("2^127+5"), Ok(HashKey((1 << 127) + 5)));
    assert!(parse_key("2^128").is_err());
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts")
}

fn run_script(name: &str) {
    let path = scripts_dir().join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut runner = Runner::default();
    let actual = strait_golden::run(&text, |commands| {
        let mut out = String::new();
        for (line_no, command) in commands {
            let at = format!("{name}.txt:{line_no}");
            match runner.command(command) {
                Ok(line) => writeln!(out, "{line}").unwrap(),
                Err(error) => writeln!(out, "error: {error}").unwrap(),
            }
            runner.check_invariants(&at);
        }
        // The streams the block named, in the order first named.
        let mut named: Vec<StreamKey> = Vec::new();
        for (_, command) in commands {
            if let Some(name) = command.split_whitespace().nth(1).filter(|w| !w.contains('='))
                && !named.contains(&key(name))
            {
                named.push(key(name));
            }
        }
        // A block about nodes names no stream: it changes placements, so show them all.
        if named.is_empty() {
            named = runner.state.streams.keys().cloned().collect();
        }
        out.push_str(&render_state(&runner.state, &named));
        out
    });
    strait_golden::compare_or_update(&path, &text, &actual);
}

/// The state under test and what the invariants remember across commands.
#[derive(Default)]
struct Runner {
    state: ControlState,
    /// Every group id ever seen, with the shard it was given to.
    groups_seen: BTreeMap<u64, (StreamKey, StreamIncarnation, ShardId)>,
}

impl Runner {
    /// Applies one script command; `Err` is a malformed command, not a rejection.
    fn command(&mut self, line: &str) -> Result<String, String> {
        let mut words = line.split_whitespace();
        let verb = words.next().ok_or("empty command")?;
        let mut positional = Vec::new();
        let mut args = BTreeMap::new();
        for word in words {
            match word.split_once('=') {
                Some((k, v)) => {
                    args.insert(k.to_string(), v.to_string());
                }
                None => positional.push(word.to_string()),
            }
        }
        let mut args = Args(args);
        let stream = || positional.first().map(|n| key(n)).ok_or("missing stream name");
        let command = match verb {
            "bootstrap" => ControlCommand::Bootstrap {
                nodes: args
                    .ids("nodes")?
                    .unwrap_or_else(|| vec![1, 2, 3])
                    .into_iter()
                    .map(|id| NodeInfo {
                        id,
                        address: format!("node-{id}:7000"),
                        voter: true,
                        state: NodeState::Active,
                    })
                    .collect(),
                iterator_secret: vec![7; 32],
            },
            "create-stream" => {
                let shard_count: u32 = args.number("shards")?.ok_or("missing shards=")?;
                let replicas = args.ids("replicas")?.unwrap_or_else(|| vec![1, 2, 3]);
                ControlCommand::CreateStream {
                    key: stream()?,
                    shard_count,
                    mode: match args.take("mode") {
                        Some(m) => StreamMode::parse(&m).ok_or(format!("unknown mode {m}"))?,
                        None => StreamMode::Provisioned,
                    },
                    retention_hours: args.number("retention")?.unwrap_or(24),
                    now_ms: args.time("now")?.unwrap_or(0),
                    placements: (0..shard_count).map(|_| replicas.clone()).collect(),
                }
            }
            "activate" => {
                let key = stream()?;
                let incarnation = match args.number("incarnation")? {
                    Some(i) => StreamIncarnation::new(i).ok_or("incarnation out of range")?,
                    None => self
                        .state
                        .streams
                        .get(&key)
                        .map(|s| s.incarnation)
                        .unwrap_or(StreamIncarnation::MIN),
                };
                ControlCommand::ActivateStream { key, incarnation }
            }
            "delete" => ControlCommand::DeleteStream { key: stream()? },
            "split" => {
                let key = stream()?;
                let shard = ShardId(args.number("shard")?.ok_or("missing shard=")?);
                let range = self.range_of(&key, shard)?;
                let at = match args.take("at") {
                    Some(at) => parse_key(&at)?,
                    None => range.midpoint(),
                };
                let (low, high) = range.split_at(at).map_err(|_| {
                    format!(
                        "split key {} is not above start+1 and below the end of {}",
                        fmt_key(at),
                        fmt_range(range)
                    )
                })?;
                let replicas = args.ids("replicas")?.unwrap_or_else(|| vec![1, 2, 3]);
                let child = |range| PlannedChild {
                    range,
                    parent: shard,
                    adjacent_parent: None,
                    replicas: replicas.clone(),
                };
                ControlCommand::BeginReshard {
                    key,
                    parents: vec![shard],
                    children: vec![child(low), child(high)],
                    now_ms: args.time("now")?.unwrap_or(0),
                }
            }
            "merge" => {
                let key = stream()?;
                let shard = ShardId(args.number("shard")?.ok_or("missing shard=")?);
                let adjacent = ShardId(args.number("adjacent")?.ok_or("missing adjacent=")?);
                let (a, b) = (self.range_of(&key, shard)?, self.range_of(&key, adjacent)?);
                // Shards that are not adjacent get the range spanning both, gap included,
                // so that the state machine (not the runner) refuses the merge.
                let range = a.merge(b).unwrap_or(HashKeyRange {
                    start: a.start.min(b.start),
                    end: a.end.max(b.end),
                });
                ControlCommand::BeginReshard {
                    key,
                    parents: vec![shard, adjacent],
                    children: vec![PlannedChild {
                        range,
                        parent: shard,
                        adjacent_parent: Some(adjacent),
                        replicas: args.ids("replicas")?.unwrap_or_else(|| vec![1, 2, 3]),
                    }],
                    now_ms: args.time("now")?.unwrap_or(0),
                }
            }
            "complete" => {
                let endings = args
                    .take("endings")
                    .unwrap_or_default()
                    .split(',')
                    .filter(|e| !e.is_empty())
                    .map(parse_ending)
                    .collect::<Result<_, _>>()?;
                ControlCommand::CompleteReshard {
                    key: stream()?,
                    intent: args.number("intent")?.ok_or("missing intent=")?,
                    endings,
                    now_ms: args.time("now")?.unwrap_or(0),
                }
            }
            "set-retention" => ControlCommand::SetRetention {
                key: stream()?,
                retention_hours: args.number("hours")?.ok_or("missing hours=")?,
                now_ms: args.time("now")?.ok_or("missing now=")?,
            },
            "horizon" => {
                let key = stream()?;
                let now = args.time("now")?.ok_or("missing now=")?;
                args.done()?;
                let stream = self.state.streams.get(&key).ok_or("no such stream")?;
                return Ok(format!(
                    "horizon at {}: {}",
                    fmt_ms(now),
                    fmt_ms(stream.retention_horizon_ms(now))
                ));
            }
            "add-node" => {
                let id: u64 = args.number("id")?.ok_or("missing id=")?;
                ControlCommand::AddNode {
                    node: NodeInfo {
                        id,
                        address: args.take("address").unwrap_or_else(|| format!("node-{id}:7000")),
                        voter: false,
                        state: NodeState::Active,
                    },
                }
            }
            "initialized" => ControlCommand::GroupsInitialized {
                groups: args.ids("groups")?.ok_or("missing groups=")?,
            },
            "move" => ControlCommand::MoveReplica {
                group: args.number("group")?.ok_or("missing group=")?,
                from: args.number("from")?.ok_or("missing from=")?,
                to: args.number("to")?.ok_or("missing to=")?,
            },
            "retired" => ControlCommand::ReplicaRetired {
                group: args.number("group")?.ok_or("missing group=")?,
                node: args.number("node")?.ok_or("missing node=")?,
            },
            "deleted" => ControlCommand::ReplicaDeleted {
                group: args.number("group")?.ok_or("missing group=")?,
                node: args.number("node")?.ok_or("missing node=")?,
            },
            "drain" => ControlCommand::DrainNode {
                id: args.number("id")?.ok_or("missing id=")?,
            },
            "remove-node" => ControlCommand::RemoveNode {
                id: args.number("id")?.ok_or("missing id=")?,
            },
            "plan-moves" => {
                let down: BTreeSet<u64> = args.ids("down")?.unwrap_or_default().into_iter().collect();
                let limit: usize = args.number("limit")?.unwrap_or(100);
                args.done()?;
                let moves = strait_control::rebalance::plan_moves(&self.state, &down, &down, limit);
                let rendered: Vec<String> = moves
                    .iter()
                    .map(|m| format!("group {} {}->{}", m.group, m.from, m.to))
                    .collect();
                return Ok(format!(
                    "plan-moves: {}",
                    if rendered.is_empty() {
                        "none".into()
                    } else {
                        rendered.join(", ")
                    }
                ));
            }
            other => return Err(format!("unknown command {other}")),
        };
        args.done()?;
        Ok(format!("{verb}: {}", render_reply(&self.state.apply(&command))))
    }

    /// The range of a shard that exists (open or closed), to build reshard children from.
    fn range_of(&self, key: &StreamKey, shard: ShardId) -> Result<HashKeyRange, String> {
        let stream = self.state.streams.get(key).ok_or("no such stream")?;
        let meta = stream
            .shards
            .get(&shard)
            .ok_or(format!("stream has no shard {}", shard.0))?;
        Ok(meta.range)
    }

    fn check_invariants(&mut self, at: &str) {
        for group in self.state.groups.values() {
            let mut hosts: Vec<u64> = group.replicas.iter().chain(&group.retiring).copied().collect();
            hosts.sort_unstable();
            hosts.dedup();
            if hosts.len() != group.replicas.len() + group.retiring.len() {
                panic!("{at}: group {} names a node twice: {group:?}", group.id);
            }
            if let Some(n) = group.replicas.iter().find(|n| !self.state.nodes.contains_key(n)) {
                panic!(
                    "{at}: group {} is placed on node {n}, which is not a member",
                    group.id
                );
            }
        }
        for stream in self.state.streams.values() {
            if matches!(stream.status, StreamStatus::Active | StreamStatus::Updating) {
                let open: Vec<HashKeyRange> = stream.open_shards().map(|s| s.range).collect();
                if let Err(e) = HashKeyRange::check_coverage(&open) {
                    panic!(
                        "{at}: open shards of {} do not tile the key space: {e}",
                        stream.key.name
                    );
                }
            }
        }
        for group in self.state.groups.values() {
            let owner = (group.stream.clone(), group.incarnation, group.shard);
            let seen = self.groups_seen.entry(group.id).or_insert_with(|| owner.clone());
            assert_eq!(*seen, owner, "{at}: group {} was reused", group.id);
        }
    }
}

/// Named arguments of a command; each must be used exactly once.
struct Args(BTreeMap<String, String>);

impl Args {
    fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    fn number<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        self.take(name)
            .map(|v| v.parse().map_err(|_| format!("{name}={v} is not a number")))
            .transpose()
    }

    fn time(&mut self, name: &str) -> Result<Option<u64>, String> {
        self.take(name).map(|v| parse_ms(&v)).transpose()
    }

    fn ids(&mut self, name: &str) -> Result<Option<Vec<u64>>, String> {
        self.take(name)
            .map(|v| {
                v.split(',')
                    .map(|n| n.parse().map_err(|_| format!("{name}={v} is not a list of ids")))
                    .collect()
            })
            .transpose()
    }

    fn done(&self) -> Result<(), String> {
        match self.0.keys().next() {
            Some(unused) => Err(format!("unknown argument {unused}=")),
            None => Ok(()),
        }
    }
}

fn key(name: &str) -> StreamKey {
    StreamKey {
        namespace: Namespace::new(AccountId::default_account(), Region::default_region()),
        name: StreamName::new(name).expect("a valid stream name"),
    }
}

/// `42`, `42ms`, `5s`, `100h`.
fn parse_ms(text: &str) -> Result<u64, String> {
    let bad = || format!("{text} is not a time");
    if let Some(h) = text.strip_suffix('h') {
        h.parse::<u64>().map(|h| h * HOUR_MS).map_err(|_| bad())
    } else if let Some(ms) = text.strip_suffix("ms") {
        ms.parse().map_err(|_| bad())
    } else if let Some(s) = text.strip_suffix('s') {
        s.parse::<u64>().map(|s| s * 1000).map_err(|_| bad())
    } else {
        text.parse().map_err(|_| bad())
    }
}

fn fmt_ms(ms: u64) -> String {
    if ms != 0 && ms.is_multiple_of(HOUR_MS) {
        format!("{}h", ms / HOUR_MS)
    } else {
        ms.to_string()
    }
}

/// A hash key: decimal, or `[m*]2^k` optionally followed by `-n` or `+n`.
fn parse_key(text: &str) -> Result<HashKey, String> {
    let bad = || format!("{text} is not a hash key");
    let Some(caret) = text.find('^') else {
        return text.parse().map(HashKey).map_err(|_| bad());
    };
    let (head, tail) = (&text[..caret], &text[caret + 1..]);
    let multiplier: u128 = match head.strip_suffix("2").ok_or_else(bad)? {
        "" => 1,
        m => m.strip_suffix('*').ok_or_else(bad)?.parse().map_err(|_| bad())?,
    };
    let split = tail.find(['+', '-']).unwrap_or(tail.len());
    let exponent: u32 = tail[..split].parse().map_err(|_| bad())?;
    let adjust: i128 = if split < tail.len() {
        tail[split..].parse().map_err(|_| bad())?
    } else {
        0
    };
    // 2^128 itself does not fit in a u128: only `2^128-n` is accepted there.
    let base = if exponent == 128 {
        if multiplier != 1 || adjust >= 0 {
            return Err(bad());
        }
        u128::MAX.checked_sub(adjust.unsigned_abs() - 1).ok_or_else(bad)?
    } else {
        let power = 1u128.checked_shl(exponent).ok_or_else(bad)?;
        let value = multiplier.checked_mul(power).ok_or_else(bad)?;
        if adjust >= 0 {
            value.checked_add(adjust.unsigned_abs()).ok_or_else(bad)?
        } else {
            value.checked_sub(adjust.unsigned_abs()).ok_or_else(bad)?
        }
    };
    Ok(HashKey(base))
}

/// Renders a hash key as `m*2^k`, `m*2^k-1` (m odd and below 16, k at least 64) or, when
/// it has no such form, in decimal.
fn fmt_key(key: HashKey) -> String {
    let value = key.0;
    if value == 0 {
        return "0".into();
    }
    if value == u128::MAX {
        return "2^128-1".into();
    }
    let power_form = |v: u128| -> Option<String> {
        let k = v.trailing_zeros();
        let m = v >> k;
        (k >= 64 && m < 16).then(|| {
            if m == 1 {
                format!("2^{k}")
            } else {
                format!("{m}*2^{k}")
            }
        })
    };
    power_form(value)
        .or_else(|| power_form(value + 1).map(|s| format!("{s}-1")))
        .unwrap_or_else(|| value.to_string())
}

fn fmt_range(range: HashKeyRange) -> String {
    format!("[{}, {}]", fmt_key(range.start), fmt_key(range.end))
}

/// `S@INDEX.OFFSET` (or `S@INDEX:OFFSET`).
fn parse_ending(text: &str) -> Result<(ShardId, RecordPosition), String> {
    let bad = || format!("{text} is not SHARD@INDEX.OFFSET");
    let (shard, position) = text.split_once('@').ok_or_else(bad)?;
    let (index, offset) = position.split_once(['.', ':']).ok_or_else(bad)?;
    Ok((
        ShardId(shard.parse().map_err(|_| bad())?),
        RecordPosition::new(
            index.parse().map_err(|_| bad())?,
            offset.parse().map_err(|_| bad())?,
        ),
    ))
}

fn render_reply(reply: &ControlReply) -> String {
    match reply {
        ControlReply::Done => "ok".into(),
        ControlReply::StreamCreated { incarnation } => format!("created incarnation={incarnation}"),
        ControlReply::ReshardStarted { intent } => format!("started intent={intent}"),
        ControlReply::Rejected(error) => format!("rejected: {error}"),
    }
}

/// Renders the cluster-wide facts, the `named` streams (a stream that does not exist is
/// rendered as absent) and any group no stream accounts for.
fn render_state(state: &ControlState, named: &[StreamKey]) -> String {
    let mut out = String::new();
    let nodes: Vec<String> = state
        .nodes
        .values()
        .map(|n| match n.state {
            NodeState::Active => n.id.to_string(),
            other => format!("{}({})", n.id, other.as_str()),
        })
        .chain(state.removed_nodes.iter().map(|n| format!("{n}(removed)")))
        .collect();
    writeln!(
        out,
        "routing v{} next_group={} nodes={}",
        state.routing_version,
        state.next_group,
        if nodes.is_empty() {
            "-".into()
        } else {
            nodes.join(",")
        }
    )
    .unwrap();
    let mut accounted = BTreeSet::new();
    for stream in state.streams.values() {
        let mut rendered = String::new();
        render_stream(&mut rendered, state, stream, &mut accounted);
        if named.contains(&stream.key) {
            out.push_str(&rendered);
        }
    }
    for key in named {
        if !state.streams.contains_key(key) {
            writeln!(out, "stream {} absent", key.name).unwrap();
        }
    }
    for group in state.groups.values() {
        if !accounted.contains(&group.id) {
            writeln!(
                out,
                "orphan group {} of {} shard {}",
                group.id, group.stream.name, group.shard.0
            )
            .unwrap();
        }
    }
    out
}

fn render_stream(out: &mut String, state: &ControlState, stream: &StreamMeta, groups: &mut BTreeSet<u64>) {
    writeln!(
        out,
        "stream {} incarnation={} {} {} retention={}h expired_before={} created@{} next_shard={}",
        stream.key.name,
        stream.incarnation,
        stream.status,
        stream.mode,
        stream.retention_hours,
        fmt_ms(stream.expired_before_ms),
        fmt_ms(stream.created_at_ms),
        stream.next_shard_ordinal,
    )
    .unwrap();
    for shard in stream.shards.values() {
        writeln!(out, "  {}", render_shard(state, &stream.key, shard, groups)).unwrap();
    }
    if let Some(intent) = &stream.reshard {
        let parents: Vec<String> = intent.parents.iter().map(|p| p.0.to_string()).collect();
        writeln!(
            out,
            "  reshard intent={} parents={} started@{}",
            intent.id,
            parents.join(","),
            fmt_ms(intent.started_at_ms)
        )
        .unwrap();
        for child in &intent.children {
            writeln!(out, "    {}", render_shard(state, &stream.key, child, groups)).unwrap();
        }
    }
}

fn render_shard(
    state: &ControlState,
    stream: &StreamKey,
    shard: &ShardMeta,
    groups: &mut BTreeSet<u64>,
) -> String {
    let mut line = format!("shard {} {}", shard.id.0, fmt_range(shard.range));
    match shard.closed_at_ms {
        None => line.push_str(" open"),
        Some(at) => write!(line, " closed@{}", fmt_ms(at)).unwrap(),
    }
    if let Some(ending) = shard.ending {
        write!(line, " ending={ending}").unwrap();
    }
    if let Some(parent) = shard.parent {
        write!(line, " parent={}", parent.0).unwrap();
    }
    if let Some(adjacent) = shard.adjacent_parent {
        write!(line, " adjacent={}", adjacent.0).unwrap();
    }
    write!(line, " group={}", shard.group).unwrap();
    match state.groups.get(&shard.group) {
        Some(group) => {
            groups.insert(group.id);
            let replicas: Vec<String> = group.replicas.iter().map(|r| r.to_string()).collect();
            write!(line, " replicas={}", replicas.join(",")).unwrap();
            if group.moving() {
                let retiring: Vec<String> = group.retiring.iter().map(|r| r.to_string()).collect();
                write!(line, " retiring={}", retiring.join(",")).unwrap();
            }
            if !group.deleting.is_empty() {
                let deleting: Vec<String> = group.deleting.iter().map(|r| r.to_string()).collect();
                write!(line, " deleting={}", deleting.join(",")).unwrap();
            }
            if !group.initialized {
                line.push_str(" (no leader yet)");
            }
            if group.shard != shard.id || group.stream != *stream {
                line.push_str(" (group names another shard)");
            }
        }
        None => line.push_str(" (group missing)"),
    }
    line
}
