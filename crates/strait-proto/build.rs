//! Compiles `proto/` into Rust with protox, a pure-Rust protobuf compiler, so building
//! Strait needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../proto");
    let files = ["strait/v1/stream.proto", "strait/internal/v1/cluster.proto"];
    let descriptors = protox::compile(files, ["../../proto"])?;
    tonic_prost_build::configure()
        .bytes(".")
        .compile_fds(descriptors)?;
    Ok(())
}
