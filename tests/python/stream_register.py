"""A standard Python gRPC client against a real gateway (issue 12, "The wire").

Streams COUNT small RegisterAddressNumbers messages over mTLS, with two bad records
among them, and prints the BulkSummary as one JSON line. It then asks the server's
reflection service, in the v1alpha protocol that grpcio-reflection, grpcui, Evans and
Postman speak, which services this port serves, and prints them as a second line.

Run by tests/grpcio_stream.rs, which generates the stubs with grpc_tools.protoc into
STUBS and passes everything on the command line:

    stream_register.py STUBS ADDR SERVER_NAME CA CERT KEY COUNT BAD_INDEX...
"""

import json
import sys


def main() -> int:
    stubs, addr, server_name, ca, cert, key, count, *bad = sys.argv[1:]
    sys.path.insert(0, stubs)

    import grpc
    from renkei.v1 import gateway_pb2, gateway_pb2_grpc

    count = int(count)
    bad = {int(b) for b in bad}

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    creds = grpc.ssl_channel_credentials(
        root_certificates=read(ca), private_key=read(key), certificate_chain=read(cert)
    )
    channel = grpc.secure_channel(
        addr, creds, options=[("grpc.ssl_target_name_override", server_name)]
    )
    stub = gateway_pb2_grpc.SymbolsStub(channel)

    def requests():
        for i in range(count):
            # 団体内統合宛名番号 are 1 to 15 digits; the bad ones are not numbers at all.
            number = "not-a-number" if i in bad else str(900000000 + i)
            yield gateway_pb2.RegisterAddressNumberRequest(unified_address_number=number)

    summary = stub.RegisterAddressNumbers(requests(), timeout=600)
    print(
        json.dumps(
            {
                "accepted": summary.accepted,
                "rejected": summary.rejected,
                "errors": [e.index for e in summary.errors],
            }
        ),
        flush=True,
    )

    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = reflect.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=30
    )
    services = []
    for answer in answers:
        services.extend(s.name for s in answer.list_services_response.service)
        break
    print(json.dumps({"services": sorted(services)}), flush=True)
    channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
