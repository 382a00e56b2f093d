#!/usr/bin/env python3
"""Hostile HTTP/2 against a running interop server, frame by frame with python3-h2.

    hostile_h2_test.py <interop_server binary> [--skip <test>]... [--only <test>]...
                       [server flags, e.g. --transport grpc]

For each test it starts an interop server of its own (one worker) on a loopback port it picks and
mounts one attack of those RFC 9113 and the DoS advisories of 2019 and 2023-2024 describe: rapid reset, CONTINUATION
flood, SETTINGS flood, PING flood, a zero flow-control window held open, header lists over the
advertised limit and HPACK bombs, oversized frames, bad prefaces, stream ids reused or going
backwards, DATA on a closed stream and flow-control windows pushed past 2^31-1. h2 builds what it
will (preface, SETTINGS, HEADERS, RST_STREAM, PING); what it refuses to build (CONTINUATION floods,
oversized frames, reused stream ids, window overflows) is built by hand, with h2's own HPACK
encoder so the server's header table stays in step.

Each test checks
  (a) the server's answer: the GOAWAY or RST_STREAM error code and/or the connection close that
      RFC 9113 allows for that input (where gRPC C++'s chttp2 and nghttp2 legitimately differ, the
      test accepts the set the RFC allows and says why; where gRPC 1.51 departs from the RFC
      harmlessly, the test says so and accepts exactly what it does on --transport grpc only);
  (b) bounded memory: the worker's RSS, sampled every 10 ms from /proc during the attack, grows by
      less than the bound the test states (an attack also stops early once the bound is crossed,
      so an unbounded server fails the test instead of the machine);
  (c) the worker is alive: the master still has the same one worker (same pid, not replaced);
  (d) a normal grpcio call (TestService/EmptyCall, bytes in and out) on a fresh connection succeeds
      right after.
What the server answered is printed for every attack ("hostile case: ... server answered: ...").
--skip leaves a test out of this run (reported as skipped; the registration says why), --only runs
just the tests named.
Waits are on conditions with deadlines.
"""

import os
import select
import socket
import sys
import threading
import time
import unittest

import grpc
import h2.config
import h2.connection
import h2.settings
import hpack

from interop_process import InteropServer, alive, rss_bytes

BINARY = None
SERVER_FLAGS = []
SERVER = None  # the running test's server
TRANSPORT = "native"  # the server's --transport (native is the default)
LOGS = {}  # test id -> the log of the server it ran against (kept until the end)
SERVICE = "/grpc.testing.TestService/"
MiB = 1 << 20
KiB = 1 << 10

# ---------------------------------------------------------------- HTTP/2 by hand

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
FRAME_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY",
               "WINDOW_UPDATE", "CONTINUATION"]
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR, \
    REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, ENHANCE_YOUR_CALM = range(12)
ERROR_NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
               "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR",
               "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]
SETTINGS_MAX_FRAME_SIZE = 5
SETTINGS_INITIAL_WINDOW_SIZE = 4
MAX_WINDOW = (1 << 31) - 1


def error_name(code):
    return ERROR_NAMES[code] if code is not None and code < len(ERROR_NAMES) else f"code {code}"


def frame(kind, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def window_update(stream, increment):
    return frame(WINDOW_UPDATE, 0, stream, increment.to_bytes(4, "big"))


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def grpc_frame(message):
    return b"\x00" + len(message).to_bytes(4, "big") + message


def simple_request(response_size):
    """grpc.testing.SimpleRequest{response_size: 2}."""
    return varint(2 << 3) + varint(response_size)


def request_headers(method, extra=()):
    return [(":method", "POST"), (":scheme", "http"), (":path", SERVICE + method),
            (":authority", f"{SERVER.target[0]}:{SERVER.target[1]}"), ("content-type", "application/grpc"),
            ("te", "trailers"), ("user-agent", "gryphon-hostile-h2-test (python-h2)")] + list(extra)


def hpack_literal(name, value):
    """A literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    def string(data):
        prefix = varint_prefixed(len(data), 7)
        return prefix + data
    return b"\x00" + string(name) + string(value)


def padded_block(block, size):
    """`block` and literal x-pad headers after it, `size` bytes in all (size - len(block) >= 8)."""
    room = size - len(block)
    if room >= 16:  # one big field, leaving 9 to 12 bytes (its length prefix takes 1 to 4)
        block += hpack_literal(b"x-pad", b"p" * (room - 20))
        room = size - len(block)
    return block + hpack_literal(b"x-pad", b"p" * (room - 8))  # 8 bytes and the value


def varint_prefixed(value, bits):
    """An HPACK integer with an N-bit prefix (RFC 7541 5.1), first byte's high bits zero."""
    limit = (1 << bits) - 1
    if value < limit:
        return bytes([value])
    out = bytearray([limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class Raw:
    """One hostile HTTP/2 connection: h2 encodes what it will, the test adds frames by hand, and
    everything the server sends is parsed here (not by h2, which would refuse much of what follows
    a hostile client's frames). Non-blocking with deadlines; the server's SETTINGS are acked as they
    arrive, its PINGs are not answered."""

    def __init__(self, settings=None, preface=True, handshake=True, receive_buffer=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:  # small: a client that never reads gets little help from the kernel
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(5)
        self.sock.connect(SERVER.target)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        if settings:
            self.h2.local_settings = h2.settings.Settings(client=True, initial_values=settings)
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 30
        self.start = time.monotonic()
        self.out = bytearray()
        self.sent = 0
        self.inbuf = bytearray()
        self.frames = []  # (ms since start, type, flags, stream, length)
        self.counts = {}  # frame name -> count
        self.server_settings = None
        self.settings_acks = 0
        self.ping_acks = set()
        self.ping_ack_count = 0
        self.goaway = None  # (error code, last stream id, debug data)
        self.resets = {}  # stream -> error code
        self.headers = {}  # stream -> [header dicts]: the response headers, then the trailers
        self.data = {}  # stream -> bytes of DATA received
        self.ended = set()  # streams the server ended (END_STREAM or RST_STREAM)
        self.block = None  # (stream, fragments, END_STREAM) of a header block still open
        self.closed = None  # "EOF", an errno name, or None while open
        self.closed_ms = None
        self.decode_error = None
        if preface:
            self.h2.initiate_connection()
            self.queue(self.h2.data_to_send())
        if handshake:
            assert self.exchange(until=lambda: self.server_settings is not None and not self.out, within=5), \
                "no SETTINGS from the server within 5 s: " + self.summary()

    # ---- sending and receiving

    def queue(self, data):
        self.out += data

    def queue_h2(self):
        self.out += self.h2.data_to_send()

    def exchange(self, until=None, within=5.0, read=True, stall=None, abort=None):
        """Sends what is queued and (if `read`) reads and parses what arrives, until `until()` holds
        (True), the connection closes, nothing is left to do, the deadline passes, `abort()` holds
        or (with `stall`) the server has taken no byte for `stall` seconds (False)."""
        deadline = time.monotonic() + within
        last_progress = time.monotonic()
        while True:
            if until is not None and until():
                return True
            if self.closed or (abort is not None and abort()):
                return False
            now = time.monotonic()
            if now >= deadline:
                return False
            if stall is not None and self.out and now - last_progress > stall:
                return False
            if until is None and not self.out and not read:
                return True
            readers = [self.sock] if read else []
            writers = [self.sock] if self.out else []
            if not readers and not writers:
                return True
            readable, writable, _ = select.select(readers, writers, [], min(deadline - now, 0.05))
            if writable:
                try:
                    n = self.sock.send(self.out[:1 << 18])
                    del self.out[:n]
                    self.sent += n
                    last_progress = time.monotonic()
                except BlockingIOError:
                    pass
                except OSError as error:
                    self._closed(error)
            if readable:
                self.receive()
            if until is None and read and not self.out and not readable:
                return True

    def receive(self):
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError as error:
            self._closed(error)
            return
        if not data:
            self._closed(None)
            return
        self.inbuf += data
        self._parse()

    def _closed(self, error):
        if self.closed:
            return
        self.closed = "EOF" if error is None else (
            getattr(error, "errno", None) and os.strerror(error.errno) or type(error).__name__)
        self.closed_ms = self.ms()
        # Whatever the server sent before it closed is still readable after a reset: take it.
        while True:
            try:
                more = self.sock.recv(1 << 20)
            except OSError:
                break
            if not more:
                break
            self.inbuf += more
        self._parse()

    def ms(self):
        return (time.monotonic() - self.start) * 1000

    def _parse(self):
        while len(self.inbuf) >= 9:
            length = int.from_bytes(self.inbuf[:3], "big")
            if len(self.inbuf) < 9 + length:
                return
            kind, flags = self.inbuf[3], self.inbuf[4]
            stream = int.from_bytes(self.inbuf[5:9], "big") & 0x7FFFFFFF
            payload = bytes(self.inbuf[9:9 + length])
            del self.inbuf[:9 + length]
            self._on_frame(kind, flags, stream, payload)

    def _on_frame(self, kind, flags, stream, payload):
        name = FRAME_NAMES[kind] if kind < len(FRAME_NAMES) else f"type {kind}"
        self.counts[name] = self.counts.get(name, 0) + 1
        if len(self.frames) < 200:
            self.frames.append((self.ms(), name, flags, stream, len(payload)))
        if kind == SETTINGS:
            if flags & ACK:
                self.settings_acks += 1
            else:
                self.server_settings = {int.from_bytes(payload[i:i + 2], "big"):
                                        int.from_bytes(payload[i + 2:i + 6], "big")
                                        for i in range(0, len(payload) - 5, 6)}
                self.queue(frame(SETTINGS, ACK, 0))
        elif kind == PING and flags & ACK:
            self.ping_acks.add(payload)
            self.ping_ack_count += 1
        elif kind == GOAWAY:
            self.goaway = (int.from_bytes(payload[4:8], "big"), int.from_bytes(payload[:4], "big") & 0x7FFFFFFF,
                           payload[8:].decode(errors="replace"))
        elif kind == RST_STREAM:
            self.resets[stream] = int.from_bytes(payload[:4], "big")
            self.ended.add(stream)
        elif kind == DATA:
            self.data[stream] = self.data.get(stream, 0) + len(payload)
            if flags & END_STREAM:
                self.ended.add(stream)
        elif kind in (HEADERS, CONTINUATION):
            if kind == HEADERS:
                fragment = payload
                if flags & 0x8:  # PADDED
                    fragment = fragment[1:len(fragment) - fragment[0]]
                if flags & 0x20:  # PRIORITY
                    fragment = fragment[5:]
                self.block = (stream, [fragment], flags & END_STREAM)
            elif self.block:
                self.block[1].append(payload)
            if flags & END_HEADERS and self.block:
                block_stream, fragments, ends = self.block
                self.block = None
                try:
                    decoded = dict(self.decoder.decode(b"".join(fragments), raw=False))
                except Exception as error:  # noqa: BLE001 (any decoding failure is reported)
                    decoded = {}
                    self.decode_error = repr(error)
                self.headers.setdefault(block_stream, []).append(decoded)
                if ends:
                    self.ended.add(block_stream)

    # ---- what the server said

    def header(self, stream, name):
        """`name` from the stream's last header block that has it (trailers over headers)."""
        for block in reversed(self.headers.get(stream, [])):
            if name in block:
                return block[name]
        return None

    def summary(self):
        parts = []
        if self.server_settings is not None:
            parts.append("SETTINGS " + ", ".join(f"{k}={v}" for k, v in sorted(self.server_settings.items())))
        parts.append("frames " + ", ".join(f"{k} x{v}" for k, v in sorted(self.counts.items())))
        if self.resets:
            codes = {}
            for code in self.resets.values():
                codes[error_name(code)] = codes.get(error_name(code), 0) + 1
            parts.append("RST_STREAM " + ", ".join(f"{k} x{v}" for k, v in sorted(codes.items())))
        statuses = {}
        for stream in self.headers:
            status = self.header(stream, "grpc-status") or (":status " + str(self.header(stream, ":status")))
            statuses[status] = statuses.get(status, 0) + 1
        if statuses:
            parts.append("grpc-status " + ", ".join(f"{k} x{v}" for k, v in sorted(statuses.items())))
        for stream in sorted(set(self.headers) | set(self.resets))[:3]:
            said = [f"{k}: {v[:100]}" for block in self.headers.get(stream, []) for k, v in block.items()
                    if k in (":status", "grpc-status", "grpc-message")]
            if stream in self.resets:
                said.append("RST_STREAM " + error_name(self.resets[stream]))
            parts.append(f"stream {stream} [{', '.join(said)}]")
        if self.goaway:
            parts.append(f"GOAWAY {error_name(self.goaway[0])} last-stream {self.goaway[1]}"
                         + (f" \"{self.goaway[2][:120]}\"" if self.goaway[2] else ""))
        parts.append(f"closed ({self.closed}) after {self.closed_ms:.0f} ms" if self.closed else "open")
        if self.decode_error:
            parts.append("HPACK decoding failed: " + self.decode_error)
        parts.append(f"{self.sent} bytes sent")
        return "; ".join(parts)

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------- the worker

class RssWatch:
    """The worker's RSS, sampled every 10 ms on a thread from the moment it is created."""

    def __init__(self, pid):
        self.pid = pid
        self.baseline = rss_bytes(pid) or 0
        self.peak = self.baseline
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            rss = rss_bytes(self.pid)
            if rss is None:
                return
            self.peak = max(self.peak, rss)
            self.samples += 1
            self._stop.wait(0.01)

    def wait_settled(self, quiet=1.0, within=20.0, abort=None):
        """Returns once the peak has grown by less than 1 MiB for `quiet` seconds (True), or at
        the deadline or once `abort()` holds (False)."""
        deadline = time.monotonic() + within
        mark, since = self.peak, time.monotonic()
        while time.monotonic() < deadline and not (abort is not None and abort()):
            if self.peak - mark >= MiB:
                mark, since = self.peak, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return True
            self._stop.wait(0.05)
        return False

    def growth(self):
        return self.peak - self.baseline

    def stop(self):
        self._stop.set()
        self._thread.join()
        rss = rss_bytes(self.pid)
        if rss is not None:
            self.peak = max(self.peak, rss)

    def describe(self):
        return (f"worker RSS {self.baseline / MiB:.1f} MiB before, peak {self.peak / MiB:.1f} MiB "
                f"(+{self.growth() / MiB:.1f} MiB, {self.samples} samples)")


def normal_call(timeout=10.0):
    """TestService/EmptyCall through grpcio on a connection of its own: the request and response
    are passed as bytes (an empty Empty), so no generated code is needed."""
    with grpc.insecure_channel(f"{SERVER.target[0]}:{SERVER.target[1]}",
                               options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
        call = channel.unary_unary(SERVICE + "EmptyCall", request_serializer=lambda message: message,
                                   response_deserializer=lambda message: message)
        return call(b"", timeout=timeout)


def report(case, answer):
    print(f"\nhostile case: {case}\n    server answered: {answer}", flush=True)


def the_worker(within=30.0):
    """The master's one worker, once there is exactly one."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        workers = SERVER.workers()
        if len(workers) == 1:
            return workers[0]
        time.sleep(0.05)
    raise AssertionError(f"the master has workers {SERVER.workers()}, not one, after {within:.0f} s")


class HostileTestCase(unittest.TestCase):
    """Finds the worker and starts watching its memory before each test; assert_unharmed() checks
    (b), (c) and (d)."""

    rss_bound = 32 * MiB  # each test states its own

    def setUp(self):
        # A server of its own: no test inherits another's heap, connections or damage.
        global SERVER
        SERVER = InteropServer(BINARY, SERVER_FLAGS,
                               flags=["--max-connection-age", "600s", "--idle-timeout", "600s"])
        LOGS[self.id()] = SERVER.log_path
        self.worker = the_worker()
        self.watch = RssWatch(self.worker)
        self.connections = []

    def tearDown(self):
        self.watch.stop()
        for connection in self.connections:
            connection.close()
        SERVER.stop(remove_log=False)

    def connect(self, **options):
        connection = Raw(**options)
        self.connections.append(connection)
        return connection

    def over_bound(self):
        return self.watch.growth() > self.rss_bound

    def assert_unharmed(self, case):
        """(b) the RSS bound, (c) the same one worker, alive, (d) a normal call succeeds."""
        for connection in self.connections:
            connection.close()
        self.watch.stop()
        memory = self.watch.describe()
        report(case, memory + f" (bound +{self.rss_bound / MiB:.0f} MiB)")
        self.assertLess(self.watch.growth(), self.rss_bound, f"{case}: {memory}")
        self.assertTrue(alive(self.worker), f"{case}: worker {self.worker} died\n{SERVER.log()[-4000:]}")
        self.assertEqual(SERVER.workers(), [self.worker],
                         f"{case}: the worker was replaced\n{SERVER.log()[-4000:]}")
        try:
            self.assertEqual(normal_call(), b"")
        except grpc.RpcError as error:
            self.fail(f"{case}: a normal EmptyCall on a fresh connection failed right after: "
                      f"{error.code()} {error.details()}")

    def assert_connection_error(self, connection, codes, case, within=5.0):
        """The server ends the connection: a GOAWAY whose code is in `codes` (and then the close),
        or a close without GOAWAY (RFC 9113 5.4.1: the GOAWAY before the close is a SHOULD)."""
        connection.exchange(until=lambda: connection.closed or connection.goaway, within=within)
        connection.exchange(until=lambda: connection.closed, within=2.0)  # the close after the GOAWAY
        answer = connection.summary()
        report(case, answer)
        if connection.goaway:
            self.assertIn(connection.goaway[0], codes,
                          f"{case}: GOAWAY {error_name(connection.goaway[0])}, expected one of "
                          f"{[error_name(c) for c in codes]}: {answer}")
        else:
            self.assertTrue(connection.closed, f"{case}: neither GOAWAY nor close within {within:.0f} s: {answer}")
        return answer

    def assert_still_working(self, connection, case):
        """The connection survived whatever the server ignored: a PING is answered and a new call
        on it completes."""
        marker = b"alive?%02d" % (len(connection.ping_acks) % 100)
        connection.queue(frame(PING, 0, 0, marker))
        connection.exchange(until=lambda: marker in connection.ping_acks or connection.closed, within=5)
        self.assertIn(marker, connection.ping_acks, f"{case}: the connection stopped answering: {connection.summary()}")
        stream = call_frames(connection, "EmptyCall", b"")
        connection.exchange(until=lambda: stream in connection.ended or connection.closed, within=10)
        self.assertEqual(connection.header(stream, "grpc-status"), "0",
                         f"{case}: a call after it on the same connection failed: {connection.summary()}")

    def assert_refused(self, connection, stream, answer):
        """The request on `stream` was refused, not served: its first answer is grpc-status
        RESOURCE_EXHAUSTED (8) or HTTP 431, or the stream is reset with an error, or the connection
        is ended with an error."""
        statuses = [block.get("grpc-status") or (block.get(":status") if block.get(":status") != "200" else None)
                    for block in connection.headers.get(stream, [])]
        first = next((status for status in statuses if status), None)
        if first is not None:
            self.assertIn(first, ("8", "431"), "not refused: " + answer)
        elif stream in connection.resets:
            self.assertNotEqual(connection.resets[stream], NO_ERROR, answer)
        elif connection.goaway:
            self.assertNotEqual(connection.goaway[0], NO_ERROR, answer)
        else:
            self.assertTrue(connection.closed, "no answer within the deadline: " + answer)


def call_frames(connection, method, message, end_stream=True):
    """HEADERS (through h2) and one DATA frame (by hand: h2 would count it against flow-control
    windows it never hears about) of a call on the next stream id; returns the id."""
    stream = connection.h2.get_next_available_stream_id()
    connection.h2.send_headers(stream, request_headers(method))
    connection.queue_h2()
    if message is not None:
        connection.queue(frame(DATA, END_STREAM if end_stream else 0, stream, grpc_frame(message)))
    return stream


def streaming_output_request(sizes):
    """grpc.testing.StreamingOutputCallRequest{response_parameters (2): [{size (1)}...]}."""
    return b"".join(varint(2 << 3 | 2) + varint(len(p)) + p for p in (varint(1 << 3) + varint(n) for n in sizes))


# ---------------------------------------------------------------- the attacks

class Attacks(HostileTestCase):

    def test_rapid_reset(self):
        """CVE-2023-44487: 10,000 calls (HEADERS, and DATA with END_STREAM so that the server starts
        each one), each cancelled at once with RST_STREAM, on one connection, reading all along.
        RFC 9113 sets no limit on resets; 10.5 lets a server treat abuse as ENHANCE_YOUR_CALM.
        Accepted: every call answered or reset and the connection still working (a PING after them
        is answered), or GOAWAY ENHANCE_YOUR_CALM or INTERNAL_ERROR, then the close. INTERNAL_ERROR
        is what nghttp2's stream-reset rate limit (the CVE fix: burst 1000, 33/s) sends, as every
        nghttp2-based server does. gRPC 1.51 (chttp2) has no such limit: it answers all 10,000."""
        self.rss_bound = 64 * MiB
        case = "rapid reset: 10,000 x (HEADERS, DATA END_STREAM, RST_STREAM CANCEL) on one connection"
        connection = self.connect()
        for at in range(10_000):
            stream = call_frames(connection, "EmptyCall", b"")
            connection.h2.reset_stream(stream, CANCEL)
            connection.queue_h2()
            if at % 500 == 499:
                connection.exchange(within=10, abort=self.over_bound)
                if connection.closed or connection.goaway or self.over_bound():
                    break
        connection.queue(frame(PING, 0, 0, b"gryphon!"))
        connection.exchange(until=lambda: b"gryphon!" in connection.ping_acks or connection.closed, within=30,
                            abort=self.over_bound)
        if connection.goaway:
            connection.exchange(until=lambda: connection.closed, within=2)
        answer = connection.summary()
        report(case, answer)
        if connection.goaway:
            self.assertIn(connection.goaway[0], (ENHANCE_YOUR_CALM, INTERNAL_ERROR), answer)
        elif not self.over_bound():
            self.assertFalse(connection.closed, "closed without a GOAWAY: " + answer)
            self.assertIn(b"gryphon!", connection.ping_acks, "the connection stopped answering: " + answer)
        self.assert_unharmed(case)

    def test_continuation_flood(self):
        """CVE-2024-28182 and kin: HEADERS without END_HEADERS, then CONTINUATION frames of 16 KiB of
        literal header fields without end (up to 4096 frames, 64 MiB), reading all along. RFC 9113
        10.5.1: a server may refuse a field block over its limit but must decode it to keep the
        HPACK state, or close the connection. Accepted: the request refused (grpc-status 8, 431,
        an RST_STREAM error) and/or the connection closed, with or without a GOAWAY (ENHANCE_YOUR_CALM,
        PROTOCOL_ERROR, COMPRESSION_ERROR or INTERNAL_ERROR); or, for a server that reads on and
        discards, the request refused once END_HEADERS finally comes. A server that stops reading
        but keeps the connection, or serves the request, fails. nghttp2 (since the CVE fix) drops
        the connection after 8 CONTINUATION frames; gRPC 1.51 answers RESOURCE_EXHAUSTED once the
        block passes the limit and closes the connection a little later."""
        self.rss_bound = 48 * MiB
        case = "CONTINUATION flood: HEADERS without END_HEADERS, then up to 4096 x 16 KiB CONTINUATION"
        connection = self.connect()
        stream = connection.h2.get_next_available_stream_id()
        connection.queue(frame(HEADERS, 0, stream, connection.h2.encoder.encode(request_headers("EmptyCall"))))
        field = hpack_literal(b"x-flood", b"f" * 1000)
        stream_of_fields = field * (2 * 16384 // len(field) + 2)
        continuations = 0

        def ended():
            return connection.closed or connection.goaway or stream in connection.ended

        while continuations < 4096 and not ended():
            for _ in range(16):  # fields cut across frame boundaries, as HPACK allows
                at = (continuations * 16384) % len(field)
                connection.queue(frame(CONTINUATION, 0, stream, stream_of_fields[at:at + 16384]))
                continuations += 1
            if not connection.exchange(within=10, stall=3, abort=self.over_bound) and connection.out:
                break  # the server stopped reading, or the bound is crossed
        stalled = bool(connection.out) and not connection.closed
        if not (ended() or stalled or self.over_bound()):
            # The server read it all: end the block (completing the field cut at the boundary) and the request.
            at = (continuations * 16384) % len(field)
            connection.queue(frame(CONTINUATION, END_HEADERS, stream, field[at:] if at else b""))
            connection.queue(frame(DATA, END_STREAM, stream, grpc_frame(b"")))
            connection.exchange(until=ended, within=10)
        if connection.goaway:
            connection.exchange(until=lambda: connection.closed, within=2)
        answer = (f"after {continuations} CONTINUATION frames{' (the server stopped reading)' if stalled else ''}: "
                  + connection.summary())
        report(case, answer)
        if connection.goaway:
            self.assertIn(connection.goaway[0], (ENHANCE_YOUR_CALM, PROTOCOL_ERROR, COMPRESSION_ERROR, INTERNAL_ERROR),
                          answer)
        self.assertFalse(stalled, "the server stopped reading but kept the connection: " + answer)
        self.assert_refused(connection, stream, answer)
        self.assert_unharmed(case)

    def flood(self, unit, count, marker, all_answered):
        """Sends `count` copies of the frame `unit` without reading (the kernel's receive buffer kept
        small), then reads while it sends the rest and a PING `marker`, until `all_answered()` or
        the close. Returns the connection and the bytes the server took before the client read."""
        connection = self.connect(receive_buffer=8 * KiB)
        connection.queue(unit * count)
        connection.exchange(read=False, within=60, stall=3, abort=self.over_bound)
        taken_unread = connection.sent
        connection.queue(frame(PING, 0, 0, marker))
        connection.exchange(until=lambda: (marker in connection.ping_acks and all_answered(connection))
                            or connection.closed, within=60, abort=self.over_bound)
        if connection.goaway:
            connection.exchange(until=lambda: connection.closed, within=2)
        return connection, taken_unread

    def judge_flood(self, case, connection, taken, marker, acks, acks_read, acks_expected):
        """After a flood: GOAWAY ENHANCE_YOUR_CALM, a close, or (connection open) the marker PING
        answered and every flooded frame acked; then assert_unharmed()."""
        answer = f"{taken} bytes taken before the client read, {acks_read} {acks} read: " + connection.summary()
        report(case, answer)
        if connection.goaway:
            self.assertEqual(connection.goaway[0], ENHANCE_YOUR_CALM, answer)
        elif not connection.closed and not self.over_bound():
            self.assertIn(marker, connection.ping_acks, "the connection stopped answering: " + answer)
            self.assertEqual(acks_read, acks_expected, answer)
        self.assert_unharmed(case)

    def test_settings_flood(self):
        """CVE-2019-9515: 1,000,000 empty SETTINGS frames (9 MB) without reading the ACKs. RFC 9113
        6.5.3 wants an ACK for each; 10.5 lets a flooded server call it ENHANCE_YOUR_CALM.
        Accepted: every SETTINGS acked in the end (the server may stop reading while its ACKs
        cannot leave; gRPC 1.51 does), or the close: after GOAWAY ENHANCE_YOUR_CALM, or without
        GOAWAY (nghttp2 drops a session holding over 1000 unsent ACKs; a GOAWAY could not get past
        the ACKs the client does not read anyway)."""
        self.rss_bound = 32 * MiB
        case = "SETTINGS flood: 1,000,000 empty SETTINGS, ACKs never read"
        count = 1_000_000
        # The handshake's SETTINGS was acked too.
        connection, taken = self.flood(frame(SETTINGS, 0, 0), count, b"settings",
                                       lambda c: c.settings_acks >= count + 1)
        self.judge_flood(case, connection, taken, b"settings", "ACKs", connection.settings_acks, count + 1)

    def test_ping_flood(self):
        """CVE-2019-9512: 1,000,000 PINGs (17 MB) while never reading. gRPC's ping policy (and the
        native transport's copy of it) allows no PING more often than --keepalive-min-interval
        while no data is sent and answers the third with GOAWAY ENHANCE_YOUR_CALM, the code RFC 9113
        10.5 names for abuse. Accepted: GOAWAY ENHANCE_YOUR_CALM, a close without GOAWAY (the
        GOAWAY is stuck behind ACKs the client does not read; nghttp2 also drops a session with
        over 1000 unsent ACKs), or every PING answered in the end.
        The bound is 96 MiB: gRPC 1.51 (chttp2) takes about 3 MB of PINGs before it resets the
        connection and its RSS grows by 50-63 MiB meanwhile (measured; a weakness of chttp2, ~20x
        the bytes it read). nghttp2 stays under 1 MiB."""
        self.rss_bound = 96 * MiB
        case = "PING flood: 1,000,000 PINGs, never reading"
        count = 1_000_000
        connection, taken = self.flood(frame(PING, 0, 0, b"flooding"), count, b"pingpong",
                                       lambda c: c.ping_ack_count >= count + 1)
        self.judge_flood(case, connection, taken, b"pingpong", "PING ACKs", connection.ping_ack_count,
                         count + 1)

    def test_zero_window_held_open(self):
        """A client that grants no flow-control window (SETTINGS_INITIAL_WINDOW_SIZE 0, never a
        WINDOW_UPDATE) asks for 16 x UnaryCall(response_size 1 MiB) and 4 x StreamingOutputCall of
        32 x 1 MiB each, and holds the connection open. No DATA may leave (RFC 9113 6.9.1). A unary
        response waits in memory (made by its handler: inherent), but a streaming handler's writes
        must wait for the window rather than pile up: 128 MiB would. The bound allows 3 MiB per
        waiting message (the response and the transport's copies: gRPC 1.51 holds about 2.4 MiB
        per 1 MiB response, the native transport about 1.5 MiB), two per streaming call, plus 32
        MiB. Other connections are served meanwhile, a 1 MiB response too. A server may also
        reset such streams or close the connection (with an error code), but need not."""
        unary, streaming, messages = 16, 4, 32
        self.rss_bound = 3 * MiB * (unary + 2 * streaming) + 32 * MiB
        case = (f"zero window: SETTINGS_INITIAL_WINDOW_SIZE 0, {unary} x UnaryCall(1 MiB) and {streaming} x "
                f"StreamingOutputCall({messages} x 1 MiB), held open")
        connection = self.connect(settings={SETTINGS_INITIAL_WINDOW_SIZE: 0})
        ids = [call_frames(connection, "UnaryCall", simple_request(MiB)) for _ in range(unary)]
        ids += [call_frames(connection, "StreamingOutputCall", streaming_output_request([MiB] * messages))
                for _ in range(streaming)]
        # Every call has been taken up once it has its response headers (or was reset); then the
        # handlers have written what they will once the worker's memory stops growing.
        connection.exchange(until=lambda: all(i in connection.headers or i in connection.resets for i in ids)
                            or connection.closed, within=20, abort=self.over_bound)
        self.watch.wait_settled(quiet=1.0, within=20, abort=self.over_bound)
        held = connection.summary()
        self.assertFalse(any(connection.data.get(i) for i in ids), "DATA without window: " + held)
        try:
            self.assertEqual(normal_call(), b"")
            with grpc.insecure_channel(f"{SERVER.target[0]}:{SERVER.target[1]}",
                                       options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                call = channel.unary_unary(SERVICE + "UnaryCall", request_serializer=lambda m: m,
                                           response_deserializer=lambda m: m)
                self.assertGreater(len(call(simple_request(MiB), timeout=10)), MiB)
        except grpc.RpcError as error:
            self.fail(f"{case}: another connection was not served while the window was held: "
                      f"{error.code()} {error.details()}; held connection: {held}")
        connection.exchange(until=lambda: connection.closed, within=0.5)  # still no DATA, and what else came
        answer = connection.summary()
        report(case, answer + "; while held: " + self.watch.describe())
        self.assertFalse(any(connection.data.get(i) for i in ids), "DATA without window: " + answer)
        if connection.goaway:
            self.assertNotEqual(connection.goaway[0], NO_ERROR, answer)
        for i in connection.resets:
            self.assertNotEqual(connection.resets[i], NO_ERROR, answer)
        self.assert_unharmed(case)

    def test_many_unary_calls_on_a_zero_window(self):
        """256 x UnaryCall(1 MiB) on one connection that grants no window: every handler makes its
        1 MiB response, none can leave. The worker's memory for that connection must stay bounded
        (the native transport parks new calls once 16 MiB of responses wait unsent, and starts
        them as the client reads); 256 MiB would not be. Registered on the native transport only:
        gRPC 1.51 holds every response (+547 MiB measured)."""
        unary = 256
        self.rss_bound = 96 * MiB
        case = f"zero window: {unary} x UnaryCall(1 MiB) on one connection, held open"
        connection = self.connect(settings={SETTINGS_INITIAL_WINDOW_SIZE: 0})
        ids = [call_frames(connection, "UnaryCall", simple_request(MiB)) for _ in range(unary)]
        connection.exchange(until=lambda: connection.closed, within=3, abort=self.over_bound)
        self.watch.wait_settled(quiet=1.0, within=20, abort=self.over_bound)
        held = connection.summary()
        self.assertFalse(any(connection.data.get(i) for i in ids), "DATA without window: " + held)
        report(case, "while held: " + self.watch.describe())
        self.assert_unharmed(case)

    def test_header_list_over_the_advertised_limit(self):
        """A request with one header 4 KiB over the SETTINGS_MAX_HEADER_LIST_SIZE the server
        advertised (--max-metadata-size, 16 KiB by default: a 20 KiB header), sent after acking
        the server's SETTINGS. RFC 9113 10.5.1: the server may answer HTTP 431, reset the stream or
        end the connection; gRPC answers grpc-status RESOURCE_EXHAUSTED. Serving the call (the
        limit ignored) fails. gRPC 1.51 answers RESOURCE_EXHAUSTED (Trailers-Only), then on the
        stream it has just closed a second Trailers-Only, UNKNOWN "Missing :method header", and
        closes the connection (observed; only the first answer counts here)."""
        self.rss_bound = 32 * MiB
        connection = self.connect()
        limit = connection.server_settings.get(6)  # SETTINGS_MAX_HEADER_LIST_SIZE
        self.assertIsNotNone(limit, "the server advertised no SETTINGS_MAX_HEADER_LIST_SIZE: " + connection.summary())
        size = limit + 4 * KiB
        case = f"header list over the advertised limit ({limit} bytes): one {size}-byte header"
        stream = connection.h2.get_next_available_stream_id()
        connection.h2.send_headers(stream, request_headers("EmptyCall", [("x-big", "b" * size)]))
        connection.queue_h2()
        connection.queue(frame(DATA, END_STREAM, stream, grpc_frame(b"")))
        connection.exchange(until=lambda: stream in connection.ended or connection.closed or connection.goaway,
                            within=10)
        answer = connection.summary()
        report(case, answer)
        self.assert_refused(connection, stream, answer)
        self.assert_unharmed(case)

    def test_hpack_indexed_header_bomb(self):
        """HPACK bombs: one header is put in the dynamic table and then referenced by its one-byte
        index about 79,000 times in the same header block (HEADERS and 4 CONTINUATION, 80 KiB on
        the wire, under nghttp2's limit of 8 CONTINUATION), against an advertised limit of 16 KiB.
        With a 4,000-byte header that is a 300 MiB header list: a decoder that keeps what it
        decodes, or a server that stores it, grows by that much. With a 1-byte header it is 79,000
        small headers (2.8 MiB as HPACK counts them, 32 bytes of overhead each): a server that
        stores each one pays its per-entry overhead. Accepted answers as for a header list over
        the limit; RSS must stay within 48 MiB."""
        self.rss_bound = 48 * MiB
        for name, value_size in (("4,000-byte", 4000), ("1-byte", 1)):
            with self.subTest(f"a {name} header"):
                connection = self.connect()
                stream = connection.h2.get_next_available_stream_id()
                prefix = connection.h2.encoder.encode(request_headers("EmptyCall", [("x-bomb", "b" * value_size)]))
                # The newest dynamic table entry is x-bomb: index 62 (just after the 61 static entries).
                block = prefix + b"\xbe" * (5 * 16384 - len(prefix))
                references = len(block) - len(prefix)
                case = (f"HPACK bomb: a {name} indexed header referenced {references} times "
                        f"({references * (value_size + 6 + 32) / MiB:.1f} MiB as HPACK counts a header list)")
                pieces = [block[i:i + 16384] for i in range(0, len(block), 16384)]
                connection.queue(frame(HEADERS, 0, stream, pieces[0]))
                for i, piece in enumerate(pieces[1:], 1):
                    connection.queue(frame(CONTINUATION, END_HEADERS if i == len(pieces) - 1 else 0, stream, piece))
                connection.queue(frame(DATA, END_STREAM, stream, grpc_frame(b"")))
                connection.exchange(until=lambda: stream in connection.ended or connection.closed or connection.goaway,
                                    within=20, abort=self.over_bound)
                answer = connection.summary()
                report(case, answer + "; " + self.watch.describe())
                self.assert_refused(connection, stream, answer)
                self.assertLess(self.watch.growth(), self.rss_bound, f"{case}: {self.watch.describe()}")
        self.assert_unharmed("HPACK bombs")

    def test_frame_over_the_max_frame_size(self):
        """Frames one byte over the SETTINGS_MAX_FRAME_SIZE the server advertised (16,384 unless it
        said otherwise; gRPC 1.51 says 4,194,303). RFC 9113 4.2: FRAME_SIZE_ERROR; for DATA a
        stream error (RST_STREAM FRAME_SIZE_ERROR, the connection going on with the frame skipped)
        or a connection error; for a frame with a field block (HEADERS) a connection error only. A
        connection error is GOAWAY FRAME_SIZE_ERROR or a close without GOAWAY (5.4.1's SHOULD).
        gRPC 1.51 fails the call (UNAVAILABLE "Failed parsing HTTP/2") and closes the connection
        without GOAWAY; nghttp2 sends GOAWAY FRAME_SIZE_ERROR."""
        self.rss_bound = 32 * MiB
        for kind in ("DATA", "HEADERS"):
            with self.subTest(kind):
                connection = self.connect()
                size = connection.server_settings.get(SETTINGS_MAX_FRAME_SIZE, 16384) + 1
                case = f"a {size}-byte {kind} frame (one byte over the server's SETTINGS_MAX_FRAME_SIZE)"
                if kind == "DATA":
                    stream = call_frames(connection, "UnaryCall", None)
                    message = grpc_frame(b"\x1a" + varint(size) + b"p" * size)[:size]  # a SimpleRequest, cut off
                    connection.queue(frame(DATA, 0, stream, message))
                else:
                    stream = connection.h2.get_next_available_stream_id()
                    block = connection.h2.encoder.encode(request_headers("EmptyCall"))
                    block = padded_block(block, size)
                    connection.queue(frame(HEADERS, END_HEADERS | END_STREAM, stream, block))
                connection.exchange(until=lambda: connection.resets.get(stream) == FRAME_SIZE_ERROR
                                    or connection.closed or connection.goaway, within=10)
                if kind == "DATA" and connection.resets.get(stream) == FRAME_SIZE_ERROR and not connection.goaway:
                    report(case, connection.summary())
                    self.assert_still_working(connection, case)  # the oversized frame was skipped whole
                else:
                    answer = self.assert_connection_error(connection, (FRAME_SIZE_ERROR,), case)
                    self.assertFalse(connection.header(stream, "grpc-status") == "0", "served: " + answer)
        self.assert_unharmed("frames over the max frame size")

    def test_bad_preface(self):
        """RFC 9113 3.4: an invalid connection preface is a connection error PROTOCOL_ERROR, and the
        GOAWAY may be omitted. Each variant must get the connection closed within 3 s (the
        handshake timeout is 10 s: the close is the input's doing), with nothing from the server
        but its own preface (SETTINGS, WINDOW_UPDATE on stream 0) and, if any, GOAWAY
        PROTOCOL_ERROR."""
        self.rss_bound = 32 * MiB
        variants = {
            "HTTP/1.1 request": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "a wrong preface (SM replaced)": PREFACE.replace(b"SM", b"XX") + frame(SETTINGS, 0, 0),
            "the preface and then PING, not SETTINGS": PREFACE + frame(PING, 0, 0, b"12345678"),
            "64 KiB of binary garbage": bytes((i * 7919 + 13) % 251 for i in range(64 * KiB)),
        }
        for name, data in variants.items():
            with self.subTest(name):
                connection = self.connect(preface=False, handshake=False)
                connection.queue(data)
                connection.exchange(until=lambda: connection.closed, within=3)
                answer = connection.summary()
                report(f"bad preface: {name}", answer)
                self.assertTrue(connection.closed, "not closed within 3 s: " + answer)
                for _, kind, flags, stream, _ in connection.frames:
                    self.assertIn(kind, ("SETTINGS", "WINDOW_UPDATE", "GOAWAY"),
                                  "answered beyond its preface: " + answer)
                    self.assertEqual(stream, 0, answer)
                    self.assertFalse(kind == "SETTINGS" and flags & ACK,
                                     "acked SETTINGS after a bad preface: " + answer)
                if connection.goaway:
                    self.assertEqual(connection.goaway[0], PROTOCOL_ERROR, answer)
        self.assert_unharmed("bad prefaces")

    def completed_call(self, connection, stream_id=None):
        """An EmptyCall on the connection, waited for to its end (the server's END_STREAM); its id."""
        if stream_id is None:
            stream = call_frames(connection, "EmptyCall", b"")
        else:
            connection.h2.send_headers(stream_id, request_headers("EmptyCall"))
            connection.queue_h2()
            connection.queue(frame(DATA, END_STREAM, stream_id, grpc_frame(b"")))
            stream = stream_id
        connection.exchange(until=lambda: stream in connection.ended or connection.closed, within=10)
        self.assertEqual(connection.header(stream, "grpc-status"), "0",
                         "the call before the attack failed: " + connection.summary())
        return stream

    def test_stream_id_reuse_and_going_backwards(self):
        """RFC 9113 5.1.1: a new stream id must be greater than every id the client used before; a
        lower one is a connection error PROTOCOL_ERROR. A stream closed by END_STREAM both ways is
        "closed" (5.1), where HEADERS may be taken as a connection error STREAM_CLOSED. Accepted:
        GOAWAY PROTOCOL_ERROR or STREAM_CLOSED (or a close without it) or RST_STREAM STREAM_CLOSED.
        Also accepted, for a lower id never used: the HEADERS ignored, the connection still working
        (a PING answered, a new call served). RFC 9113 5.1 makes a server ignore frames on streams
        it closed with RST_STREAM, and a server that forgets closed streams cannot tell those from
        a lower id it never saw: nghttp2 ignores such HEADERS for that reason (its source says so),
        and so does gRPC 1.51. gRPC 1.51 also ignores HEADERS reusing the id of a stream that
        completed ("ignoring out of order new stream request"), which the RFC does not allow:
        accepted on --transport grpc only, as what it does. Never accepted: the call on the reused
        or lower id answered."""
        self.rss_bound = 32 * MiB
        for name, first, again in (("HEADERS again on stream 1 after its call completed", 1, 1),
                                   ("HEADERS on stream 3 after stream 5 completed (3 never used)", 5, 3)):
            with self.subTest(name):
                case = f"stream id: {name}"
                connection = self.connect()
                self.completed_call(connection, first)
                answered = len(connection.headers.get(again, []))
                connection.queue(frame(HEADERS, END_HEADERS, again,
                                       connection.h2.encoder.encode(request_headers("EmptyCall"))))
                connection.queue(frame(DATA, END_STREAM, again, grpc_frame(b"")))
                connection.queue(frame(PING, 0, 0, b"reused!!"))
                connection.exchange(until=lambda: connection.closed or connection.goaway or again in connection.resets
                                    or len(connection.headers.get(again, [])) > answered
                                    or b"reused!!" in connection.ping_acks, within=5)
                # The PING's ACK can overtake an answer in the same write: give the answer its chance too.
                connection.exchange(until=lambda: connection.closed or connection.goaway or again in connection.resets
                                    or len(connection.headers.get(again, [])) > answered, within=0.5)
                self.assertEqual(len(connection.headers.get(again, [])), answered,
                                 f"{case}: the call on the reused stream id was answered: {connection.summary()}")
                if again in connection.resets and not connection.goaway:
                    report(case, connection.summary())
                    self.assertEqual(connection.resets[again], STREAM_CLOSED, connection.summary())
                elif connection.goaway or connection.closed or (again == first and TRANSPORT != "grpc"):
                    self.assert_connection_error(connection, (PROTOCOL_ERROR, STREAM_CLOSED), case)
                else:
                    report(case, "ignored: " + connection.summary())
                    self.assert_still_working(connection, case)
        self.assert_unharmed("stream ids reused and going backwards")

    def test_data_on_a_closed_stream(self):
        """RFC 9113 6.1: DATA on a stream that is not open or half-closed (local) is a stream error
        STREAM_CLOSED; 5.1 lets a stream closed by END_STREAM make it a connection error
        STREAM_CLOSED. Accepted: RST_STREAM STREAM_CLOSED on the stream, GOAWAY STREAM_CLOSED (or
        a close without GOAWAY). On the grpc transport only, what gRPC 1.51 does instead: it
        ignores DATA on a stream it has closed, the connection going on (a PING answered, a new
        call served); an RFC deviation of chttp2, harmless to the server."""
        self.rss_bound = 32 * MiB
        case = "DATA on stream 1 after its call completed"
        connection = self.connect()
        stream = self.completed_call(connection)
        connection.queue(frame(DATA, END_STREAM, stream, grpc_frame(b"")))
        connection.queue(frame(PING, 0, 0, b"afterdat"))
        connection.exchange(until=lambda: connection.closed or connection.goaway or stream in connection.resets
                            or b"afterdat" in connection.ping_acks, within=5)
        connection.exchange(until=lambda: connection.closed or connection.goaway or stream in connection.resets,
                            within=0.5)
        if stream in connection.resets and not connection.goaway:
            report(case, connection.summary())
            self.assertEqual(connection.resets[stream], STREAM_CLOSED, connection.summary())
        elif connection.goaway or connection.closed or TRANSPORT != "grpc":
            self.assert_connection_error(connection, (STREAM_CLOSED,), case)
        else:
            report(case, "ignored (gRPC 1.51): " + connection.summary())
            self.assert_still_working(connection, case)
        self.assert_unharmed(case)

    def test_window_overflow(self):
        """RFC 9113 6.9.1: a WINDOW_UPDATE that takes a flow-control window past 2^31-1 is a
        connection error FLOW_CONTROL_ERROR for the connection's window and a stream error
        (RST_STREAM FLOW_CONTROL_ERROR, or the connection error: 5.4.1) for a stream's; 6.5.2: a
        SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1 is a connection error FLOW_CONTROL_ERROR. A close
        without GOAWAY is accepted for the connection errors (5.4.1's SHOULD). On the grpc
        transport only, what gRPC 1.51 does instead for the two WINDOW_UPDATE cases: nothing (its
        windows are 64-bit and never checked against 2^31-1), the connection going on (a PING
        answered, a new call served); a chttp2 deviation, harmless to the server."""
        self.rss_bound = 32 * MiB
        with self.subTest("connection window"):
            case = "WINDOW_UPDATE 2^31-1 on the connection (window 65,535)"
            connection = self.connect()
            connection.queue(window_update(0, MAX_WINDOW))
            connection.queue(frame(PING, 0, 0, b"window!!"))
            connection.exchange(until=lambda: connection.closed or connection.goaway
                                or b"window!!" in connection.ping_acks, within=5)
            if TRANSPORT == "grpc" and not (connection.closed or connection.goaway):
                report(case, "ignored (gRPC 1.51): " + connection.summary())
                self.assert_still_working(connection, case)
            else:
                self.assert_connection_error(connection, (FLOW_CONTROL_ERROR,), case)
        with self.subTest("stream window"):
            case = "WINDOW_UPDATE 2^31-1 on an open stream (window 65,535)"
            connection = self.connect()
            stream = call_frames(connection, "UnaryCall", None)  # open: no request message yet
            connection.queue(window_update(stream, MAX_WINDOW))
            connection.queue(frame(PING, 0, 0, b"window!!"))
            connection.exchange(until=lambda: stream in connection.resets or connection.closed or connection.goaway
                                or b"window!!" in connection.ping_acks, within=5)
            connection.exchange(until=lambda: stream in connection.resets or connection.closed or connection.goaway,
                                within=0.5)
            if stream in connection.resets and not connection.goaway:
                report(case, connection.summary())
                self.assertEqual(connection.resets[stream], FLOW_CONTROL_ERROR, connection.summary())
            elif TRANSPORT == "grpc" and not (connection.closed or connection.goaway):
                report(case, "ignored (gRPC 1.51): " + connection.summary())
                self.assert_still_working(connection, case)
            else:
                self.assert_connection_error(connection, (FLOW_CONTROL_ERROR,), case)
        with self.subTest("SETTINGS_INITIAL_WINDOW_SIZE"):
            connection = self.connect()
            connection.queue(frame(SETTINGS, 0, 0, SETTINGS_INITIAL_WINDOW_SIZE.to_bytes(2, "big")
                                   + (MAX_WINDOW + 1).to_bytes(4, "big")))
            self.assert_connection_error(connection, (FLOW_CONTROL_ERROR,), "SETTINGS_INITIAL_WINDOW_SIZE 2^31")
        self.assert_unharmed("window overflows")


# ---------------------------------------------------------------- main

def run_tests(names, logs):
    """Runs the tests named (all with none) of the calling module; prints the server log of each
    failed test (`logs`: test id -> log path) and removes every log. Returns the exit code: 1 when
    a test failed or none ran."""
    try:
        result = unittest.main(module="__main__", argv=sys.argv[:1] + names, exit=False, verbosity=2).result
        failed = sorted({getattr(test, "test_case", test).id() for test, _ in result.failures + result.errors})
        for test in failed:
            if test in logs:
                with open(logs[test], errors="replace") as f:
                    print(f"server log of {test} (last 20,000 characters):\n{f.read()[-20000:]}")
    finally:
        for log in logs.values():
            if os.path.exists(log):
                os.unlink(log)
    return 0 if result.wasSuccessful() and result.testsRun > 0 else 1


def skip_named(entries, classes, script):
    """--skip Class.test=why entries (`classes`: the script's globals()): each test is reported
    as skipped with the reason its registration gives."""
    for entry in entries:
        name, _, why = entry.partition("=")
        cls, _, test = name.partition(".")
        holder = classes.get(cls)
        if holder is None or not hasattr(holder, test) or not why:
            sys.exit(f"error: --skip {entry}: give Class.test_name=reason for a test in {script}")
        setattr(holder, test, unittest.skip(why)(getattr(holder, test)))


def split_args(args):
    """(server flags, --only names, --skip entries, the --transport the flags name) of `args`."""
    rest, only, skips = [], [], []
    i = 0
    while i < len(args):
        if args[i] in ("--skip", "--only") and i + 1 < len(args):
            (skips if args[i] == "--skip" else only).append(args[i + 1])
            i += 2
        else:
            rest.append(args[i])
            i += 1
    transport = "native"
    for at, flag in enumerate(rest):
        if flag == "--transport" and at + 1 < len(rest):
            transport = rest[at + 1]
        elif flag.startswith("--transport="):
            transport = flag.split("=", 1)[1]
    return rest, only, skips, transport


def main():
    args = sys.argv[1:]
    if not args or not os.access(args[0], os.X_OK):
        sys.exit("usage: hostile_h2_test.py <interop_server binary> [--skip <test>]... [--only <test>]... "
                 "[server flags]")
    binary = args[0]
    rest, only, skips, transport = split_args(args[1:])
    for name in skips + only:
        if not name.startswith("test_") or not hasattr(Attacks, name):
            sys.exit(f"error: {name}: no such test in hostile_h2_test.py")
    for name in skips:
        setattr(Attacks, name, unittest.skip("skipped by --skip (see the test's registration)")(getattr(Attacks, name)))
    global BINARY, SERVER_FLAGS, TRANSPORT
    BINARY, SERVER_FLAGS, TRANSPORT = binary, rest, transport
    sys.exit(run_tests([f"Attacks.{name}" for name in only], LOGS))

if __name__ == "__main__":
    main()
