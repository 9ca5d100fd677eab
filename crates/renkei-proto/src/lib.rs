//! The `renkei.v1` protobuf messages and gRPC stubs.
//!
//! Everything here is generated from `proto/renkei/v1/`; hand-written logic lives in the
//! crates that use it, so this crate stays a faithful mirror of the wire contract.
#![forbid(unsafe_code)]
#![allow(missing_debug_implementations, unreachable_pub, clippy::all)]

pub mod codec;

pub mod v1 {
    tonic::include_proto!("renkei.v1");
    include!(concat!(env!("OUT_DIR"), "/servers/renkei.v1.rs"));
}

/// Encoded `FileDescriptorSet` of the whole API, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("renkei_descriptor");
