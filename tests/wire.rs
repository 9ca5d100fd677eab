//! What a hostile or careless client gets back on the wire: a request that is not protobuf
//! is the caller's mistake (INVALID_ARGUMENT, not INTERNAL), and no answer grows with the
//! input it quotes.

use bytes::{Buf, BufMut, Bytes};
use renkei_e2e::{SAPPORO, TestCluster};
use renkei_proto::v1::GetInquiryRequest;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

/// Sends and receives bytes as they are, so a test can put anything on the wire.
#[derive(Debug, Default, Clone)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

async fn raw_call(tc: &TestCluster, path: &'static str, body: Bytes) -> Result<Bytes, Status> {
    let mut grpc = tonic::client::Grpc::new(tc.backoffice(SAPPORO));
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    grpc.unary(
        tonic::Request::new(body),
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_request_that_is_not_protobuf_is_invalid_argument() {
    let tc = TestCluster::start().await;
    // Field 1, wire type 2 (length-delimited), claiming 100 bytes that are not there; then
    // a lone varint that never ends; then a wire type that does not exist.
    for garbage in [
        &[0x0a, 100, 1, 2, 3][..],
        &[0x08, 0xff, 0xff, 0xff][..],
        &[0x0f, 0x00][..],
    ] {
        for path in [
            "/renkei.v1.Inquiries/GetInquiry",
            "/renkei.v1.Inquiries/SubmitInquiry",
            "/renkei.v1.Symbols/RegisterAddressNumber",
        ] {
            let status = raw_call(&tc, path, Bytes::copy_from_slice(garbage))
                .await
                .expect_err("garbage must be refused");
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{path} with {garbage:02x?}: {status:?}"
            );
            assert!(
                status.message().contains("not a valid protobuf message"),
                "{status:?}"
            );
        }
    }
    // A well-formed request on the same path still works, so the codec only changed errors.
    let ok = raw_call(
        &tc,
        "/renkei.v1.Inquiries/GetInquiry",
        Bytes::from(prost::Message::encode_to_vec(&GetInquiryRequest {
            inquiry_id: "no-such-inquiry".into(),
        })),
    )
    .await
    .expect_err("there is no such inquiry");
    assert_eq!(ok.code(), Code::NotFound, "{ok:?}");
    tc.stop().await;
}

#[tokio::test]
async fn a_huge_id_is_not_echoed_back_whole() {
    let tc = TestCluster::start().await;
    let huge = "x".repeat(1 << 20);
    let status = tc
        .inquiries(SAPPORO)
        .get_inquiry(GetInquiryRequest { inquiry_id: huge })
        .await
        .expect_err("there is no such inquiry");
    assert_eq!(status.code(), Code::NotFound, "{}", status.message().len());
    let chars = status.message().chars().count();
    assert!(
        chars <= renkei_core::MAX_MESSAGE_CHARS + 1,
        "message of {chars} characters"
    );
    assert!(status.message().ends_with('…'), "{}", status.message());
    assert!(
        status.details().len() < 1024,
        "{} bytes of details",
        status.details().len()
    );
    tc.stop().await;
}
