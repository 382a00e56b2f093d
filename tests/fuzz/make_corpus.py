#!/usr/bin/python3
"""Writes the seed corpus of tests/fuzz/ (deterministic: run it again, get the same bytes).

    tests/fuzz/make_corpus.py            # rewrites tests/fuzz/corpus/<harness>/seed-*

Only the seed-* files are rewritten; inputs the fuzzer found (crash-*, regression-*) stay.
The input layouts are the ones the harnesses' headers describe (fuzz_grpc_message.cc,
fuzz_h2_connection.cc). The HTTP/2 client byte streams come from python3-h2, plus hand-built
frames (hyperframe) where h2 would refuse to send them.
"""
import base64
import gzip
import pathlib
import struct
import zlib

import h2.config
import h2.connection
import h2.errors
import hyperframe.frame

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


# ---------------------------------------------------------------- fuzz_h2_connection

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# Bits of byte 0 (fuzz_h2_connection.cc): the harness's preface, Config, admission, drain...
ADD_PREFACE, TIGHT, PINGS_WELCOME, BIG_METADATA = 1, 1 << 1, 2 << 1, 3 << 1
ADMIT_ONE, DRAIN, FINISH_DRAIN, GO_AWAY, CLOSE_EARLY = 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7


DRAIN_FIRST = 1 << 4  # in byte 1


def h2_seed(wire: bytes, flags: int = ADD_PREFACE, chunks: tuple = (), byte1: int = 0) -> bytes:
    """The harness's header, then `wire`; with ADD_PREFACE the client's own preface and first
    SETTINGS are cut, since the harness adds them."""
    assert len(chunks) < 16 and all(1 <= c <= 256 for c in chunks)
    if flags & ADD_PREFACE:
        assert wire.startswith(PREFACE)
        settings_length = int.from_bytes(wire[24:27], "big")
        wire = wire[24 + 9 + settings_length:]
    return bytes([flags, len(chunks) | byte1]) + bytes(c - 1 for c in chunks) + wire


class Client:
    """An h2 client connection whose bytes are collected in order (frames built by hand too)."""

    def __init__(self, settings=None):
        config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                           normalize_outbound_headers=False)
        self.h2 = h2.connection.H2Connection(config=config)
        self.h2.initiate_connection()
        if settings:
            self.h2.update_settings(settings)
        self.out = self.h2.data_to_send()

    def flush(self):
        self.out += self.h2.data_to_send()
        return self

    def request(self, stream, path, extra=(), method="POST", content_type="application/grpc",
                end=False):
        headers = [(":method", method), (":scheme", "http"), (":path", path),
                   (":authority", "fuzz"), ("content-type", content_type), ("te", "trailers"),
                   ("grpc-accept-encoding", "identity,deflate,gzip")] + list(extra)
        self.h2.send_headers(stream, headers, end_stream=end)
        return self.flush()

    def message(self, stream, body, compressed=False, end=False, pad=None):
        self.h2.send_data(stream, frame(body, flag=int(compressed)), end_stream=end,
                          pad_length=pad)
        return self.flush()

    def raw(self, frame_object):
        self.flush()
        self.out += frame_object.serialize()
        return self

    def bytes(self):
        return self.flush().out


def grpc_call(path, *messages, extra=(), compressed=False, chunks=(), flags=ADD_PREFACE,
              byte1=0):
    client = Client().request(1, path, extra)
    for i, body in enumerate(messages):
        client.message(1, body, compressed, end=i + 1 == len(messages))
    if not messages:
        client.h2.end_stream(1)
    return h2_seed(client.bytes(), flags, chunks, byte1)


def continuation_request() -> bytes:
    client = Client()
    block = client.h2.encoder.encode(
        [(":method", "POST"), (":scheme", "http"), (":path", "/fuzz.Echo/Echo"),
         (":authority", "fuzz"), ("content-type", "application/grpc"), ("te", "trailers"),
         ("x-echo", "split over three frames")])
    third = len(block) // 3
    headers = hyperframe.frame.HeadersFrame(1, block[:third])
    middle = hyperframe.frame.ContinuationFrame(1, block[third:2 * third])
    last = hyperframe.frame.ContinuationFrame(1, block[2 * third:], flags=["END_HEADERS"])
    data = hyperframe.frame.DataFrame(1, frame(REQUEST), flags=["END_STREAM"])
    for f in (headers, middle, last, data):
        client.raw(f)
    return h2_seed(client.bytes())


def odd_settings() -> bytes:
    settings = {h2.settings.SettingCodes.HEADER_TABLE_SIZE: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1,
                h2.settings.SettingCodes.MAX_FRAME_SIZE: 16777215,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 1,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 0}
    client = Client(settings).raw(hyperframe.frame.SettingsFrame(0, {0x99: 7, 0x8: 1}))
    client.h2.local_settings.acknowledge()
    client.request(1, "/fuzz.Echo/Repeat").message(1, b"\x05hello world", end=True)
    return h2_seed(client.bytes(), flags=0)  # the odd SETTINGS are the client's first


def window_updates() -> bytes:
    client = Client().request(1, "/fuzz.Echo/Chat").message(1, REQUEST)
    client.raw(hyperframe.frame.WindowUpdateFrame(0, 1 << 20))
    client.raw(hyperframe.frame.WindowUpdateFrame(1, 1000))
    client.raw(hyperframe.frame.WindowUpdateFrame(1, 0x7fffffff))  # overflows the window
    return h2_seed(client.bytes())


def made_you_reset(count):
    """HEADERS and a WINDOW_UPDATE that overflows the new stream's window, `count` times: nghttp2
    resets every stream, and the session counts the resets it sends."""
    client = Client()
    for stream in range(1, 2 * count, 2):
        client.request(stream, "/fuzz.Echo/Echo")
        client.raw(hyperframe.frame.WindowUpdateFrame(stream, 0x7fffffff))
    return h2_seed(client.bytes())


def half_sent(count):
    """`count` streams, each with all but the last byte of a 1 KiB message, then one reset."""
    client = Client()
    for stream in range(1, 2 * count, 2):
        client.request(stream, "/fuzz.Echo/Echo")
        client.raw(hyperframe.frame.DataFrame(stream, frame(b"h" * 1024)[:-1]))
    client.h2.reset_stream(1, h2.errors.ErrorCodes.CANCEL)
    return h2_seed(client.bytes(), chunks=(200, 17))


def many_streams(path, count, flags):
    client = Client()
    for stream in range(1, 2 * count, 2):
        client.request(stream, path).message(stream, REQUEST, end=path.endswith("Echo"))
    return h2_seed(client.bytes(), flags)


def pings(count, flags=ADD_PREFACE):
    client = Client()
    for i in range(count):
        client.h2.ping(struct.pack(">Q", i))
    return h2_seed(client.flush().request(1, "/fuzz.Echo/Echo").message(1, REQUEST, end=True)
                   .bytes(), flags)


def h2_seeds() -> dict:
    bin_value = base64.b64encode(b"\x00\x01binary\xff").decode()
    cancelled = Client().request(1, "/fuzz.Echo/Chat").message(1, REQUEST)
    cancelled.h2.reset_stream(1, h2.errors.ErrorCodes.CANCEL)
    goaway = Client().request(1, "/fuzz.Echo/Echo").message(1, REQUEST, end=True)
    goaway.h2.close_connection(error_code=0, additional_data=b"bye", last_stream_id=0)
    priority = Client()
    priority.h2.prioritize(1, weight=200, depends_on=0, exclusive=True)
    priority.request(1, "/fuzz.Echo/Echo").message(1, REQUEST, end=True, pad=20)
    return {
        "unary-echo": grpc_call("/fuzz.Echo/Echo", REQUEST),
        "unary-echo-inline-chunked": grpc_call("/fuzz.Inline/Echo", REQUEST, chunks=(1, 9, 30)),
        "unary-echo-no-preface-byte": h2_seed(
            Client().request(1, "/fuzz.Echo/Echo").message(1, REQUEST, end=True).bytes(), 0),
        "gzip-request": grpc_call("/fuzz.Echo/Echo", gz(REQUEST * 50), compressed=True,
                                  extra=[("grpc-encoding", "gzip"), ("x-compress", "gzip")]),
        "deflate-request": grpc_call("/fuzz.Inline/Echo", zlib.compress(REQUEST * 50, 9),
                                     compressed=True,
                                     extra=[("grpc-encoding", "deflate"),
                                            ("x-compress", "deflate")]),
        "gzip-bomb": grpc_call("/fuzz.Echo/Echo", gz(bytes(5 << 20)), compressed=True,
                               extra=[("grpc-encoding", "gzip")]),
        "server-stream": grpc_call("/fuzz.Echo/Repeat", b"\x07repeat me",
                                   extra=[("x-compress", "gzip")]),
        "bidi-several": grpc_call("/fuzz.Echo/Chat", b"one", b"two", b"", b"four!",
                                  extra=[("x-headers-first", "1")], chunks=(7, 64)),
        "client-stream": grpc_call("/fuzz.Echo/Sum", b"a", b"bb", b"ccc"),
        "rst-cancel": h2_seed(cancelled.bytes()),
        "ping-strikes": pings(4),
        "ping-welcome": pings(4, ADD_PREFACE | PINGS_WELCOME),
        "settings-odd": odd_settings(),
        "window-update": window_updates(),
        "client-goaway": h2_seed(goaway.bytes()),
        "continuation": continuation_request(),
        "huge-metadata": grpc_call("/fuzz.Echo/Echo", REQUEST, extra=[("x-echo", "m" * 12000)]),
        "huge-metadata-tight": grpc_call("/fuzz.Echo/Echo", REQUEST,
                                         extra=[("x-big", "m" * 1000)],
                                         flags=ADD_PREFACE | TIGHT),
        "wrong-content-type": h2_seed(Client().request(1, "/fuzz.Echo/Echo",
                                                       content_type="text/plain", end=True)
                                      .bytes()),
        "get-method": h2_seed(Client().request(1, "/fuzz.Echo/Echo", method="GET", end=True)
                              .bytes()),
        "grpc-timeout-1n": grpc_call("/fuzz.Echo/Chat", b"late", extra=[("grpc-timeout", "1n")]),
        "grpc-timeout-100m": grpc_call("/fuzz.Echo/Echo", REQUEST,
                                       extra=[("grpc-timeout", "100m")]),
        "bin-metadata": grpc_call("/fuzz.Echo/Echo", REQUEST,
                                  extra=[("x-echo-bin", bin_value), ("x-echo", "plain"),
                                         ("x-status", "5")]),
        "unknown-method": grpc_call("/fuzz.Echo/Nope", REQUEST),
        "malformed-path": grpc_call("/no-slash", REQUEST),
        "no-message": grpc_call("/fuzz.Echo/Echo"),
        "two-messages-unary": grpc_call("/fuzz.Echo/Echo", b"one", b"two"),
        "message-over-limit": grpc_call("/fuzz.Echo/Echo", b"x" * 100, flags=ADD_PREFACE | TIGHT),
        "response-over-limit": grpc_call("/fuzz.Echo/Repeat", b"\x03" + b"r" * 40,
                                         flags=ADD_PREFACE | TIGHT),
        "truncated-message": h2_seed(Client().request(1, "/fuzz.Echo/Echo")
                                     .raw(hyperframe.frame.DataFrame(
                                         1, frame(REQUEST)[:-2], flags=["END_STREAM"]))
                                     .bytes()),
        "streams-over-limit": many_streams("/fuzz.Echo/Echo", 4, ADD_PREFACE | TIGHT),
        "admit-one": many_streams("/fuzz.Echo/Chat", 3, ADD_PREFACE | ADMIT_ONE),
        "drain": grpc_call("/fuzz.Echo/Chat", b"a", b"b", b"c", chunks=(40,),
                           flags=ADD_PREFACE | DRAIN | FINISH_DRAIN),
        "server-go-away": grpc_call("/fuzz.Echo/Echo", REQUEST, flags=ADD_PREFACE | GO_AWAY),
        "close-mid-call": h2_seed(Client().request(1, "/fuzz.Echo/Chat").message(1, REQUEST)
                                  .bytes(), ADD_PREFACE | CLOSE_EARLY),
        "priority-padded": h2_seed(priority.bytes()),
        "drain-before-start": grpc_call("/fuzz.Echo/Echo", REQUEST, byte1=DRAIN_FIRST),
        "handler-throws": grpc_call("/fuzz.Echo/Chat", b"x", extra=[("x-throw", "1")]),
        "echo-every-value": grpc_call("/fuzz.Inline/Echo", REQUEST,
                                      extra=[("x-echo", "one"), ("x-echo", "two"),
                                             ("x-peer", "")]),
        # Over nghttp2's 1000 queued SETTINGS ACKs in one read: receive() fails with ERR_FLOODED.
        "settings-flood": h2_seed(Client().bytes() + b"\0\0\0\x04\0\0\0\0\0" * 1001),
        # 2 MiB messages from 2 KiB each: the stream's inbox passes its 1 MiB credit limit.
        "bidi-gzip-bombs": grpc_call("/fuzz.Echo/Chat", gz(bytes(2 << 20)), gz(bytes(2 << 20)),
                                     compressed=True, extra=[("grpc-encoding", "gzip")],
                                     chunks=(256,)),
        # A unary call fails at its second message, before inflating it.
        "unary-gzip-bombs": grpc_call("/fuzz.Echo/Echo", gz(bytes(2 << 20)), gz(bytes(2 << 20)),
                                      gz(bytes(2 << 20)), compressed=True,
                                      extra=[("grpc-encoding", "gzip")]),
        "made-you-reset": made_you_reset(300),
        "half-sent-messages": half_sent(6),
        # Past the harness's worker request budget (4 KiB) and twice it: streams are shed.
        "half-sent-over-the-worker-budget": half_sent(12),
        # Six calls at once where the config allows three a second: GOAWAY too_many_calls.
        "calls-over-the-call-rate": many_streams("/fuzz.Echo/Echo", 6, ADD_PREFACE | BIG_METADATA),
        # Two running calls on one connection over the tight config's one: the second is refused.
        "calls-over-connection-cap": many_streams("/fuzz.Echo/Chat", 2, ADD_PREFACE | TIGHT),
        # Streams that send their headers and nothing more are never started.
        "headers-only-streams": h2_seed(Client().request(1, "/fuzz.Echo/Chat")
                                        .request(3, "/fuzz.Echo/Sum").bytes()),
        # A bidi handler whose read() waits past the stream idle timeout.
        "stream-idle": h2_seed(Client().request(1, "/fuzz.Echo/Chat").message(1, b"one").bytes(),
                               ADD_PREFACE | BIG_METADATA),
        "http1": h2_seed(b"GET / HTTP/1.1\r\nHost: fuzz\r\n\r\n", flags=0),
    }


def write_seeds(harness: str, seeds: dict, max_len: int) -> None:
    out = HERE / "corpus" / harness
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("seed-*"):
        old.unlink()
    for name, data in seeds.items():
        assert len(data) <= max_len, f"{name} is {len(data)} bytes, over {harness}'s MAX_LEN"
        (out / f"seed-{name}").write_bytes(data)
    print(f"wrote {len(seeds)} seeds to {out.relative_to(HERE.parent.parent)}/")


def main() -> None:
    write_seeds("fuzz_grpc_message", SEEDS, 8192)
    write_seeds("fuzz_h2_connection", h2_seeds(), 16384)


if __name__ == "__main__":
    main()
