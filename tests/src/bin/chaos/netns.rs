//! The cluster as `strait serve` processes in network namespaces (deploy-and-chaos.md §4):
//! one namespace per node and one for the client, joined by a bridge that lives in a
//! "switch" namespace. The root namespace holds no address on the test subnet, only a
//! blackhole route, added before anything else, so nothing sent there by mistake leaves the
//! machine.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cluster::{
    Cluster, DISK_NODE, GRPC_PORT, NODES, mount_small_disk, run, run_quietly, serve_args, signal,
    unmount_small_disk,
};

/// How long a node may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(40);

pub struct Netns {
    dir: PathBuf,
    binary: PathBuf,
    /// Namespace names start with this (unique per run).
    prefix: String,
    /// The first three octets of the /24.
    subnet: String,
    children: Vec<Option<Child>>,
    data_dirs: Vec<PathBuf>,
}

impl Netns {
    /// Creates the namespaces and the bridge; starts no node.
    pub fn up(dir: &Path, binary: &Path) -> Result<Netns> {
        let subnet = crate::cluster::free_subnet(77)?;
        let k = subnet.rsplit('.').next().unwrap_or_default().to_string();
        let mut cluster = Netns {
            dir: dir.to_path_buf(),
            binary: binary.to_path_buf(),
            prefix: format!("sc{k}"),
            subnet,
            children: (0..NODES).map(|_| None).collect(),
            data_dirs: Vec::new(),
        };
        // Cleaned up by Drop from here on, whatever fails next.
        run(Command::new("ip").args(["route", "add", "blackhole", &format!("{}.0/24", cluster.subnet)]))?;
        let sw = cluster.switch();
        run(Command::new("ip").args(["netns", "add", &sw]))?;
        run(Command::new("ip").args(["-n", &sw, "link", "add", "br0", "type", "bridge"]))?;
        run(Command::new("ip").args(["-n", &sw, "link", "set", "br0", "up"]))?;
        for host in 1..=NODES + 1 {
            let ns = cluster.namespace(host);
            run(Command::new("ip").args(["netns", "add", &ns]))?;
            run(Command::new("ip").args([
                "link",
                "add",
                "eth0",
                "netns",
                &ns,
                "type",
                "veth",
                "peer",
                "name",
                &format!("p{host}"),
                "netns",
                &sw,
            ]))?;
            run(Command::new("ip").args(["-n", &sw, "link", "set", &format!("p{host}"), "master", "br0"]))?;
            run(Command::new("ip").args(["-n", &sw, "link", "set", &format!("p{host}"), "up"]))?;
            run(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]))?;
            run(Command::new("ip").args([
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", cluster.ip(host)),
                "dev",
                "eth0",
            ]))?;
            run(Command::new("ip").args(["-n", &ns, "link", "set", "eth0", "up"]))?;
        }
        for node in 1..=NODES {
            let data = if node == DISK_NODE {
                mount_small_disk(&cluster.disk_mount(), None)?
            } else {
                let data = dir.join(format!("node-{node}"));
                std::fs::create_dir_all(&data)?;
                data
            };
            cluster.data_dirs.push(data);
        }
        Ok(cluster)
    }

    fn switch(&self) -> String {
        format!("{}sw", self.prefix)
    }

    /// Hosts 1..=3 are the nodes; host 4 is the client.
    fn namespace(&self, host: usize) -> String {
        if host > NODES {
            format!("{}c", self.prefix)
        } else {
            format!("{}n{host}", self.prefix)
        }
    }

    fn ip(&self, host: usize) -> String {
        if host > NODES {
            format!("{}.100", self.subnet)
        } else {
            format!("{}.{host}", self.subnet)
        }
    }

    fn pid(&self, node: usize) -> Option<u32> {
        self.children[node - 1].as_ref().map(Child::id)
    }

    fn reap(&mut self, node: usize) {
        if let Some(mut child) = self.children[node - 1].take() {
            let _ = child.wait();
        }
    }
}

impl Cluster for Netns {
    fn start(&mut self, node: usize) -> Result<()> {
        self.reap(node);
        let peers: Vec<String> = (1..=NODES)
            .map(|n| format!("{}:{GRPC_PORT}", self.ip(n)))
            .collect();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("node-{node}.log")))?;
        let data = self.data_dirs[node - 1].to_string_lossy().into_owned();
        // `ip netns exec` execs the binary, so the child's pid is the node's.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.namespace(node)])
            .arg(&self.binary)
            .args(serve_args(node, &self.ip(node), &peers[node - 1], &peers, &data))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {node}"))?;
        self.children[node - 1] = Some(child);
        Ok(())
    }

    fn kill(&mut self, node: usize) -> Result<()> {
        if let Some(pid) = self.pid(node) {
            signal(pid, libc::SIGKILL);
        }
        self.reap(node);
        Ok(())
    }

    fn stop(&mut self, node: usize) -> Result<()> {
        let Some(child) = self.children[node - 1].as_mut() else {
            return Ok(());
        };
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                eprintln!("node {node} still running {STOP_TIMEOUT:?} after SIGTERM: killing it");
                signal(child.id(), libc::SIGKILL);
            }
            crate::interruptible_sleep(Duration::from_millis(50))?;
        }
        self.reap(node);
        Ok(())
    }

    fn pause(&mut self, node: usize) -> Result<()> {
        if let Some(pid) = self.pid(node) {
            signal(pid, libc::SIGSTOP);
        }
        Ok(())
    }

    fn resume(&mut self, node: usize) -> Result<()> {
        if let Some(pid) = self.pid(node) {
            signal(pid, libc::SIGCONT);
        }
        Ok(())
    }

    fn isolate(&mut self, node: usize) -> Result<()> {
        run(Command::new("ip").args(["-n", &self.switch(), "link", "set", &format!("p{node}"), "down"]))?;
        Ok(())
    }

    fn rejoin(&mut self, node: usize) -> Result<()> {
        run(Command::new("ip").args(["-n", &self.switch(), "link", "set", &format!("p{node}"), "up"]))?;
        Ok(())
    }

    fn endpoints(&self) -> Vec<String> {
        (1..=NODES)
            .map(|n| format!("http://{}:{GRPC_PORT}", self.ip(n)))
            .collect()
    }

    fn client_command(&self, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespace(NODES + 1)])
            .arg(program);
        command
    }

    fn disk_mount(&self) -> PathBuf {
        self.dir.join(format!("node-{DISK_NODE}-disk"))
    }

    fn save_logs(&self) -> Result<()> {
        Ok(()) // the nodes log straight into the run directory
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for node in 1..=NODES {
            if let Some(pid) = self.pid(node) {
                signal(pid, libc::SIGCONT);
                signal(pid, libc::SIGKILL);
            }
            self.reap(node);
        }
        unmount_small_disk(&self.disk_mount());
        for host in 1..=NODES + 1 {
            run_quietly(Command::new("ip").args(["netns", "del", &self.namespace(host)]));
        }
        run_quietly(Command::new("ip").args(["netns", "del", &self.switch()]));
        run_quietly(Command::new("ip").args(["route", "del", "blackhole", &format!("{}.0/24", self.subnet)]));
    }
}
