//! Compiles `proto/renkei/v1/*.proto` with protox, a pure-Rust protobuf compiler, so a
//! fresh machine needs no system `protoc` (docs/decisions/0001-protobuf-without-protoc.md).

use std::{env, fs, path::PathBuf};

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not when it is compiled: cargo reuses a compiled build
    // script across checkouts that share a target directory, and a path baked in with
    // `env!` would point at whichever checkout compiled it first.
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?;
    let proto_root = PathBuf::from(manifest_dir).join("../../proto");
    let files = [
        "renkei/v1/common.proto",
        "renkei/v1/master.proto",
        "renkei/v1/exchange.proto",
        "renkei/v1/hub.proto",
        "renkei/v1/gateway.proto",
        "renkei/v1/ops.proto",
        "renkei/v1/ledger.proto",
        "renkei/v1/disclosure.proto",
        "renkei/v1/diagnostics.proto",
        "renkei/v1/reports.proto",
        "renkei/v1/system.proto",
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    }
    let fds = protox::compile(files, [&proto_root])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let fds_path = out.join("renkei_descriptor.bin");
    fs::write(&fds_path, fds.encode_to_vec())?;

    // Messages and clients keep tonic-prost's codec: a response the client cannot decode is
    // the server's fault (INTERNAL). Servers are generated a second time, on their own and
    // against the messages above, with a codec that answers a request it cannot decode with
    // INVALID_ARGUMENT, because client garbage is not a server error
    // (docs/decisions/0071-decode-errors-are-invalid-argument.md).
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .compile_fds(fds.clone())?;
    let servers = out.join("servers");
    fs::create_dir_all(&servers)?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .out_dir(&servers)
        .extern_path(".renkei.v1", "crate::v1")
        .codec_path("crate::codec::RequestCodec")
        .compile_fds(fds)?;
    Ok(())
}
