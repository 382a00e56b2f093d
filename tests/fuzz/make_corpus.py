#!/usr/bin/python3
"""Writes the seed corpus of tests/fuzz/ (deterministic: run it again, get the same bytes).

    tests/fuzz/make_corpus.py            # rewrites tests/fuzz/corpus/fuzz_grpc_message/seed-*

Only the seed-* files are rewritten; inputs the fuzzer found (crash-*, regression-*) stay.
The input layout is the one fuzz_grpc_message.cc's header describes.
"""
import gzip
import pathlib
import struct
import zlib

HERE = pathlib.Path(__file__).resolve().parent

# Indexes into the harness's kEncodings and kLimits.
ENCODINGS = {"": 0, "identity": 1, "gzip": 2, "deflate": 3, "GZIP": 4, "snappy": 5}
LIMITS = {0: 0, 1: 1, 4: 2, 5: 3, 16: 4, 100: 5, 255: 6, 1024: 7, 4096: 8, 16384: 9,
          65535: 10, 1 << 20: 11, 2 << 20: 12, 4 << 20: 13, 0xFFFFFFFF: 14, 2**64 - 1: 15}
ROUND_TRIP = {"none": 0, "gzip": 1, "deflate": 2}
MIB = 1 << 20


def frame(body: bytes, flag: int = 0, length: int | None = None) -> bytes:
    return struct.pack(">BI", flag, len(body) if length is None else length) + body


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def seed(encoding="", limit=4 * MIB, chunk_root=0, round_trip="none", side=b"", wire=b""):
    assert len(side) < 256 and chunk_root < 32
    return (bytes([ENCODINGS[encoding] | chunk_root << 3, LIMITS[limit] | ROUND_TRIP[round_trip] << 4,
                   len(side)]) + side + wire)


# A small protobuf-looking request (field 1, "hello") as a client sends it.
REQUEST = b"\x0a\x05hello"

SEEDS = {
    "valid-uncompressed": seed(side=b"100m", wire=frame(REQUEST)),
    "two-messages-in-4-byte-chunks": seed(chunk_root=2, side=b"5S",
                                          wire=frame(REQUEST) + frame(b"\x0a\x03bye")),
    "empty-message": seed(side=b"1H", wire=frame(b"")),
    "exactly-at-limit": seed(limit=16, wire=frame(b"x" * 16)),
    "one-over-limit": seed(limit=1024, wire=frame(b"y" * 1025)),
    "gzip-message": seed("gzip", round_trip="gzip", side=b"hello",
                         wire=frame(gz(REQUEST * 20), flag=1)),
    "deflate-message": seed("deflate", round_trip="deflate", side=b"grpc-message: 100%\n\xc3\xa9",
                            wire=frame(zlib.compress(REQUEST * 20, 9), flag=1)),
    "gzip-then-plain": seed("gzip", chunk_root=3,
                            wire=frame(gz(b"first"), flag=1) + frame(b"second")),
    "truncated-header": seed(side=b"99999999n", wire=b"\x00\x00\x00"),
    "truncated-body": seed(wire=frame(b"z" * 10, length=100)),
    "truncated-gzip": seed("gzip", wire=frame(gz(REQUEST * 20)[:-9], flag=1)),
    "corrupt-deflate": seed("deflate", wire=frame(b"\x78\x9c\xff\xff\xff\xff", flag=1)),
    "oversized-length": seed(side=b"AP8-_w==", wire=frame(b"a" * 8, length=0xFFFFFFFF)),
    "bad-flag": seed(wire=frame(REQUEST, flag=2)),
    "compressed-but-identity": seed("identity", wire=frame(gz(REQUEST), flag=1)),
    "compressed-unknown-encoding": seed("snappy", wire=frame(gz(REQUEST), flag=1)),
    # Zip bombs: 2 KiB of gzip that inflates to 2 MiB, over a 1 MiB limit and within 4 MiB.
    "gzip-bomb-over-limit": seed("gzip", limit=1 * MIB, wire=frame(gz(bytes(2 * MIB)), flag=1)),
    "gzip-bomb-within-limit": seed("gzip", limit=4 * MIB, wire=frame(gz(bytes(2 * MIB)), flag=1)),
    "deflate-bomb-over-limit": seed("deflate", limit=65535,
                                    wire=frame(zlib.compress(bytes(MIB), 9), flag=1)),
}


def main() -> None:
    out = HERE / "corpus" / "fuzz_grpc_message"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("seed-*"):
        old.unlink()
    for name, data in SEEDS.items():
        assert len(data) <= 8192, f"{name} is {len(data)} bytes, over the harness's MAX_LEN"
        (out / f"seed-{name}").write_bytes(data)
    print(f"wrote {len(SEEDS)} seeds to {out.relative_to(HERE.parent.parent)}/")


if __name__ == "__main__":
    main()
