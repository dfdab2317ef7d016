//! The `strait` binary's command line, run as a user would run it.
//!
//! (Building this test also makes cargo build the `strait` binary that the end-to-end
//! tests in `tests/` start.)

use std::process::Command;

fn strait() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strait"))
}

#[test]
fn help_explains_every_command() {
    let output = strait().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for command in ["serve", "dev", "stream", "put", "tail", "cluster", "node"] {
        assert!(help.contains(command), "--help mentions {command}:\n{help}");
    }
}

#[test]
fn joining_as_an_initial_member_is_refused() {
    let output = strait()
        .args([
            "serve",
            "--join",
            "127.0.0.1:7001",
            "--initial-cluster",
            "1=127.0.0.1:7001",
            "--data-dir",
        ])
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--join is for nodes added later"), "{stderr}");
}

#[test]
fn an_unreachable_endpoint_exits_2() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = strait()
        .args([
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
            "--timeout",
            "1s",
            "cluster",
            "status",
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
