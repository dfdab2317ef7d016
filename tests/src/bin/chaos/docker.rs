//! The cluster as three containers of the Strait image on the machine's Docker engine, on an
//! internal network of their own (no route beyond this host). Nodes find each other by name (strait-1..3, network aliases) and
//! keep their data in host directories mounted at /data, node 3's on a small tmpfs. The
//! workload runs on the host and reaches the containers over the network's bridge.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cluster::{
    Cluster, DISK_NODE, GRPC_PORT, NODES, chown, mount_small_disk, run, run_quietly, serve_args,
    unmount_small_disk,
};

/// The image's unprivileged user.
const IMAGE_UID: u32 = 10001;
/// Seconds `docker stop` waits after SIGTERM before it kills.
const STOP_TIMEOUT_SECS: &str = "40";

pub struct Docker {
    dir: PathBuf,
    image: String,
    /// Containers and the network are named and labelled with this (unique per run).
    run_id: String,
    subnet: String,
    created: Vec<bool>,
    data_dirs: Vec<PathBuf>,
}

impl Docker {
    /// Creates the network and the data directories; starts no container.
    pub fn up(dir: &Path, image: &str, run_id: &str) -> Result<Docker> {
        run(Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", image]))
            .with_context(|| format!("image {image} not found: build it with deploy/build-image.sh"))?;
        let subnet = crate::cluster::free_subnet(78)?;
        let mut cluster = Docker {
            dir: dir.to_path_buf(),
            image: image.to_string(),
            run_id: run_id.to_string(),
            subnet,
            created: vec![false; NODES],
            data_dirs: Vec::new(),
        };
        run(Command::new("docker").args([
            "network",
            "create",
            "--driver=bridge",
            // No route out of the network: the nodes talk to each other and to this host only.
            "--internal",
            &format!("--subnet={}.0/24", cluster.subnet),
            &format!("--label=strait-chaos={run_id}"),
            &cluster.network(),
        ]))?;
        for node in 1..=NODES {
            let data = if node == DISK_NODE {
                mount_small_disk(&cluster.disk_mount(), Some(IMAGE_UID))?
            } else {
                let data = dir.join(format!("node-{node}"));
                std::fs::create_dir_all(&data)?;
                chown(&data, IMAGE_UID)?;
                data
            };
            cluster.data_dirs.push(data);
        }
        Ok(cluster)
    }

    fn network(&self) -> String {
        format!("{}-net", self.run_id)
    }

    fn container(&self, node: usize) -> String {
        format!("{}-{node}", self.run_id)
    }

    fn ip(&self, node: usize) -> String {
        format!("{}.{}", self.subnet, 10 + node)
    }

    fn docker(&self, args: &[&str]) -> Result<()> {
        run(Command::new("docker").args(args))?;
        Ok(())
    }
}

impl Cluster for Docker {
    fn start(&mut self, node: usize) -> Result<()> {
        let name = self.container(node);
        if self.created[node - 1] {
            return self.docker(&["start", &name]);
        }
        let peers: Vec<String> = (1..=NODES).map(|n| format!("strait-{n}:{GRPC_PORT}")).collect();
        let mount = format!("{}:/data", self.data_dirs[node - 1].display());
        let mut command = Command::new("docker");
        command
            .args(["run", "--detach", "--pull=never", "--name", &name])
            .args(["--network", &self.network(), "--ip", &self.ip(node)])
            .args([
                "--network-alias",
                &format!("strait-{node}"),
                "--hostname",
                &format!("strait-{node}"),
            ])
            .args(["--label", &format!("strait-chaos={}", self.run_id)])
            .args(["--volume", &mount, "--env", "RUST_LOG=info"])
            .arg(&self.image)
            .args(serve_args(node, "0.0.0.0", &peers[node - 1], &peers, "/data"));
        run(&mut command)?;
        self.created[node - 1] = true;
        Ok(())
    }

    fn kill(&mut self, node: usize) -> Result<()> {
        self.docker(&["kill", "--signal=KILL", &self.container(node)])
    }

    fn stop(&mut self, node: usize) -> Result<()> {
        self.docker(&["stop", "--time", STOP_TIMEOUT_SECS, &self.container(node)])
    }

    fn pause(&mut self, node: usize) -> Result<()> {
        self.docker(&["kill", "--signal=STOP", &self.container(node)])
    }

    fn resume(&mut self, node: usize) -> Result<()> {
        self.docker(&["kill", "--signal=CONT", &self.container(node)])
    }

    fn isolate(&mut self, node: usize) -> Result<()> {
        self.docker(&[
            "network",
            "disconnect",
            "--force",
            &self.network(),
            &self.container(node),
        ])
    }

    fn rejoin(&mut self, node: usize) -> Result<()> {
        self.docker(&[
            "network",
            "connect",
            "--ip",
            &self.ip(node),
            "--alias",
            &format!("strait-{node}"),
            &self.network(),
            &self.container(node),
        ])
    }

    fn endpoints(&self) -> Vec<String> {
        (1..=NODES)
            .map(|n| format!("http://{}:{GRPC_PORT}", self.ip(n)))
            .collect()
    }

    fn client_command(&self, program: &Path) -> Command {
        Command::new(program)
    }

    fn disk_mount(&self) -> PathBuf {
        self.dir.join(format!("node-{DISK_NODE}-disk"))
    }

    fn save_logs(&self) -> Result<()> {
        for node in 1..=NODES {
            if !self.created[node - 1] {
                continue;
            }
            let output = Command::new("docker")
                .args(["logs", &self.container(node)])
                .output()?;
            if !output.status.success() {
                bail!("docker logs {} failed", self.container(node));
            }
            let mut text = output.stdout;
            text.extend_from_slice(&output.stderr);
            std::fs::write(self.dir.join(format!("node-{node}.log")), text)?;
        }
        Ok(())
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let _ = self.save_logs();
        for node in 1..=NODES {
            run_quietly(Command::new("docker").args(["rm", "--force", "--volumes", &self.container(node)]));
        }
        run_quietly(Command::new("docker").args(["network", "rm", &self.network()]));
        unmount_small_disk(&self.disk_mount());
    }
}
