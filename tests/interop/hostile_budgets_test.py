#!/usr/bin/env python3
"""Hostile clients against a worker's own budgets — admission, request bytes, timers — on the
server's defaults, frame by frame with python3-h2.

    hostile_budgets_test.py <drill_server> <interop_server> [--only <test>]... [server flags]

Each test starts a server of its own (one worker, every other option at its default) and mounts
one attack while a normal client — grpcio on connections of its own — keeps calling: a unary
handler on the pool (Drill/Sleep), an inline unary handler (Greeter/SayHello), a server stream
(Greeter/SayHelloStream) and Health/Check. Every test asserts, while the attack runs and after:
  - the normal client got 0 failed calls;
  - the worker's RSS grew less than the bound the test states;
  - the attacker's streams or connections were ended within a stated time with the documented
    status, RST_STREAM or GOAWAY code;
  - the worker was never replaced.
The write-timeout test needs large responses: it runs against the interop server, whose normal
client calls TestService/EmptyCall (pool), StreamingOutputCall and Health/Check.
What happened is printed for every attack ("hostile case: ..."). Waits are on conditions with
deadlines.
"""

import gzip
import os
import re
import sys
import time
import unittest
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import budget_harness as bh  # noqa: E402
import hostile_h2_test as h2t  # noqa: E402
from budget_harness import (HEALTH_WATCH, SAY_HELLO, SAY_HELLO_STREAM, SLEEP, STREAMING_OUTPUT, UNARY_CALL,  # noqa: E402
                            BudgetTestCase, cancelled_by_server, ended_with, open_stream)
from hostile_h2_test import (CANCEL, DATA, END_STREAM, ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR, MAX_WINDOW,  # noqa: E402
                             MiB, SETTINGS_INITIAL_WINDOW_SIZE, frame, grpc_frame, report, window_update)


class Attacks(BudgetTestCase):

    def test_headers_only_calls(self):
        """1,200 calls that send HEADERS and nothing else (SayHelloStream and the built-in
        Health/Watch), 400 on each of 3 connections, more than --max-concurrent-rpcs (1024). Such
        a call is not started — no admission slot, no thread — until its first message; after
        --first-message-timeout (10 s) it ends CANCELLED (native names the option). Bound: every attacker stream ended within 16 s; +64 MiB."""
        case = "1,200 HEADERS-only calls over 3 connections (SayHelloStream, Health/Watch)"
        self.start_normal_client()
        started = time.monotonic()
        ids = []
        for _ in range(3):
            connection = self.connect()
            for at in range(400):
                ids.append((connection, open_stream(connection, SAY_HELLO_STREAM if at % 2 else HEALTH_WATCH)))
        everything_ended = lambda: all(stream in c.ended or c.closed for c, stream in ids)  # noqa: E731
        self.pump(16, until=lambda: everything_ended() or self.over_bound())
        took = time.monotonic() - started
        cancelled = sum(cancelled_by_server(c, stream) for c, stream in ids)
        answer = (f"{cancelled} of {len(ids)} cancelled by the server after {took:.1f} s; first: "
                  f"{self.connections[0].summary()}")
        report(case, answer)
        self.assertEqual(cancelled, len(ids), answer)
        if bh.TRANSPORT == "native":
            self.assertIn("first-message-timeout", self.connections[0].header(ids[0][1], "grpc-message") or "",
                          answer)
        self.assertGreater(took, 9, "ended before --first-message-timeout: " + answer)
        self.assert_unharmed(case)

    def test_health_watches_hold_no_thread(self):
        """100 Health/Watch calls with their request, held open over 2 connections, as clients
        with client-side health checking open one per connection: a watch is an async stream
        that holds no pool thread and no --max-concurrent-rpcs slot, so every one watches (it was:
        4 watched, 28 of 32 refused, each watch holding a pool thread). Bound: all 100 answered
        their first status within 5 s and still open 1 s later; 0 normal failures."""
        case = "100 Health/Watch streams held open over 2 connections"
        self.start_normal_client()
        watches = []
        for _ in range(2):
            connection = self.connect()
            for _ in range(50):
                stream = open_stream(connection, HEALTH_WATCH)
                connection.queue(frame(DATA, END_STREAM, stream, grpc_frame(b"")))
                watches.append((connection, stream))
        answered = len(grpc_frame(b"\x08\x01"))  # HealthCheckResponse{status: SERVING}, framed
        watching = lambda: sum(c.data.get(s, 0) >= answered for c, s in watches)  # noqa: E731
        ended = lambda: sum(s in c.ended or bool(c.closed) for c, s in watches)  # noqa: E731
        self.pump(5, until=lambda: watching() == len(watches))
        self.pump(1)  # anything else the server says meanwhile
        answer = (f"{watching()} of {len(watches)} watching, {ended()} ended: "
                  f"{watches[0][0].summary()}")
        report(case, answer)
        self.assertEqual(watching(), len(watches), answer)
        self.assertEqual(ended(), 0, answer)
        self.assert_unharmed(case)

    def test_gzip_bomb(self):
        """20 streams on one connection, each 255 gzip messages of 4 KiB that inflate to 4 MiB, no
        END_STREAM: 10 to Drill/Sleep (unary: it fails at its second message, INTERNAL, without
        inflating it) and 10 to SayHelloStream (a stream inflates a message only while its inbox
        and the connection's request budget have room). Bound: every stream ended within 15 s;
        +64 MiB (it was +1 GiB for one stream)."""
        case = "gzip bomb: 20 streams x 255 messages of 4 KiB inflating to 4 MiB each"
        self.start_normal_client()
        bomb = gzip.compress(b"\0" * (4 * MiB - 64))
        message = b"\x01" + len(bomb).to_bytes(4, "big") + bomb
        connection = self.connect()
        ids, left = [], {}
        for at in range(20):
            stream = open_stream(connection, SLEEP if at % 2 == 0 else SAY_HELLO_STREAM, [("grpc-encoding", "gzip")])
            ids.append(stream)
            left[stream] = message * 255
        took = self.send_all(connection, left, 15)
        answer = f"after {took:.1f} s: {connection.summary()}"
        report(case, answer)
        self.assertTrue(all(stream in connection.ended for stream in ids), "streams still open: " + answer)
        for stream in ids[0::2]:
            self.assertEqual(connection.header(stream, "grpc-status"), "13", answer)
            self.assertIn("several requests", connection.header(stream, "grpc-message") or "", answer)
        self.assert_unharmed(case)

    def test_half_sent_messages(self):
        """200 streams to Drill/Sleep, each sending all but the last byte of a 4 MiB message as
        fast as the windows allow. The connection window reopens only while the connection holds
        less than its request budget (16 MiB), so the attacker gets ~32 MiB in, then waits; after
        --first-message-timeout (10 s) every call ends CANCELLED. Bound: at most 48 MiB taken,
        every stream ended within 16 s; +96 MiB (it was +854 MiB)."""
        self.rss_bound = 96 * MiB
        case = "200 streams x (4 MiB message less its last byte)"
        self.start_normal_client()
        connection = self.connect()
        size = 4 * MiB - 64
        ids, left = [], {}
        for _ in range(200):
            stream = open_stream(connection, SLEEP)
            ids.append(stream)
            left[stream] = (b"\x00" + size.to_bytes(4, "big") + b"\0" * size)[:-1]
        took = self.send_all(connection, left, 16)
        cancelled = sum(ended_with(connection, stream, "1") for stream in ids)
        answer = (f"{connection.sent / MiB:.1f} MiB taken, {cancelled} of {len(ids)} ended grpc-status 1 after "
                  f"{took:.1f} s: {connection.summary()}")
        report(case, answer)
        self.assertLess(connection.sent, 48 * MiB, answer)
        self.assertEqual(cancelled, len(ids), answer)
        self.assert_unharmed(case)

    def test_half_sent_messages_over_many_connections(self):
        """12 connections, each with 50 streams to Drill/Sleep sending all but the last byte of a
        4 MiB message. Each connection stays under its own request budget's bound (~32 MiB), but
        together they would hold ~400 MiB: past the worker's request budget (64 MiB) connections
        that hold request bytes get no more window, and past twice that a stream that receives
        DATA with no call to take it fails RESOURCE_EXHAUSTED and frees what it held; the rest end
        CANCELLED at --first-message-timeout (10 s). Bound: every stream ended within 16 s with
        one of the two; +192 MiB (+383 MiB before the worker's budget)."""
        self.rss_bound = 192 * MiB
        case = "12 connections x 50 streams x (4 MiB message less its last byte)"
        self.start_normal_client()
        size = 4 * MiB - 64
        attacks = []
        for _ in range(12):
            connection = self.connect()
            left = {}
            for _ in range(50):
                left[open_stream(connection, SLEEP)] = (b"\x00" + size.to_bytes(4, "big") + b"\0" * size)[:-1]
            attacks.append((connection, left))
        took = self.send_all_on(attacks, 16)
        sent = sum(connection.sent for connection, _ in attacks)
        ended = {"1": 0, "8": 0}
        for connection, left in attacks:
            for stream in left:
                status = connection.header(stream, "grpc-status")
                if status in ended:
                    ended[status] += 1
        streams = sum(len(left) for _, left in attacks)
        answer = (f"{sent / MiB:.1f} MiB taken over 12 connections; of {streams} streams "
                  f"{ended['8']} ended RESOURCE_EXHAUSTED, {ended['1']} CANCELLED, after {took:.1f} s")
        report(case, answer)
        self.assertEqual(ended["1"] + ended["8"], streams, answer)
        self.assert_unharmed(case)

    def test_large_uploads_over_the_budget_complete(self):
        """Not an attack: 6 unary calls of 3.5 MiB each on one connection at once, 21 MiB, more than
        the connection's 16 MiB request budget. Whole uncompressed messages are taken even over
        the budget (taking one frees it), so every call completes (grpc-status 0, the message's
        unknown field skipped) long before --first-message-timeout."""
        case = "6 x 3.5 MiB uploads at once on one connection (over its 16 MiB request budget)"
        self.start_normal_client()
        connection = self.connect()
        body = b"\x7a" + h2t.varint(int(3.5 * MiB)) + b"u" * int(3.5 * MiB)  # field 15: unknown bytes
        left = {}
        for _ in range(6):
            left[open_stream(connection, SLEEP)] = b"\x00" + len(body).to_bytes(4, "big") + body
        ends = {}

        def send_all_then_end():
            for stream, data in list(left.items()):
                if data:
                    left[stream] = connection.send_within_window(stream, data)
                elif stream not in ends:
                    connection.queue(frame(DATA, END_STREAM, stream))
                    ends[stream] = True
            return all(stream in connection.ended for stream in left) or connection.closed
        started = time.monotonic()
        self.pump(9, until=send_all_then_end)
        took = time.monotonic() - started
        answer = f"after {took:.1f} s: {connection.summary()}"
        report(case, answer)
        for stream in left:
            self.assertEqual(connection.header(stream, "grpc-status"), "0", answer)
        self.assert_unharmed(case)

    def test_server_provoked_resets(self):
        """MadeYouReset (CVE-2025-8671): HEADERS, then a WINDOW_UPDATE that overflows the new
        stream's window, 5,000 times on one connection: nghttp2 resets each stream
        (FLOW_CONTROL_ERROR), which its own limit on received resets does not count. gryphon counts
        the resets it sends (a burst of 1,000, then 33/s) and answers GOAWAY ENHANCE_YOUR_CALM
        "too_many_resets". Bound: GOAWAY within 5,000 streams, fewer than 1,200 resets (the burst,
        and what nghttp2 queued from the reads before the GOAWAY: the client sends 100 streams a
        read)."""
        case = "MadeYouReset: 5,000 x (HEADERS, WINDOW_UPDATE overflowing the stream window)"
        self.start_normal_client()
        connection = self.connect()
        for at in range(5000):
            stream = open_stream(connection, SLEEP)
            connection.queue(window_update(stream, MAX_WINDOW))
            if at % 100 == 99:
                connection.exchange(within=5)
                if connection.closed or connection.goaway:
                    break
        connection.exchange(until=lambda: connection.closed, within=5)
        answer = connection.summary()
        report(case, answer)
        self.assertIsNotNone(connection.goaway, "no GOAWAY: " + answer)
        self.assertEqual(connection.goaway[0], ENHANCE_YOUR_CALM, answer)
        self.assertEqual(connection.goaway[2], "too_many_resets", answer)
        resets = sum(1 for code in connection.resets.values() if code == FLOW_CONTROL_ERROR)
        self.assertLess(resets, 1200, answer)
        self.assertTrue(connection.closed, "still open after the GOAWAY: " + answer)
        self.assert_unharmed(case)


class SilentStreams(BudgetTestCase):
    server_flags = ["--idle-timeout", "3s", "--max-connection-age", "2s"]

    def test_silent_stream_keeps_no_connection(self):
        """100 connections, each with one stream that sends HEADERS and then nothing, on a server
        with --idle-timeout 3s and --max-connection-age 2s. An open stream no longer keeps its
        connection: the idle timer counts HEADERS and DATA, not open streams, so each connection
        gets GOAWAY "idle timeout" at 3 s and is closed within a second of it (the silent stream
        would have ended at --first-message-timeout, 10 s, anyway). Bound: all 100 closed within
        16 s."""
        case = "100 connections x 1 silent stream (idle timeout 3 s, max age 2 s)"
        self.start_normal_client()
        started = time.monotonic()
        for _ in range(100):
            open_stream(self.connect(), SAY_HELLO_STREAM)
        self.pump(16, until=lambda: all(connection.closed for connection in self.connections))
        took = time.monotonic() - started
        closed = sum(1 for connection in self.connections if connection.closed)
        answer = f"{closed} of 100 closed after {took:.1f} s; first: {self.connections[0].summary()}"
        report(case, answer)
        self.assertEqual(closed, 100, answer)
        self.assert_unharmed(case)


class CallRate(BudgetTestCase):
    server_flags = ["--max-call-rate-per-connection", "500"]

    def test_calls_faster_than_the_rate(self):
        """5,000 whole SayHello calls as fast as one connection carries them, on a server with
        --max-call-rate-per-connection 500 (a second's worth at once, then 500/s). The connection
        gets GOAWAY ENHANCE_YOUR_CALM "too_many_calls" once its allowance is spent, and is closed.
        Bound: GOAWAY within 5,000 calls, after at most 500 + 500/s
        of the time taken (+100 for what one read carries), and the connection closed within 5 s
        of it."""
        case = "5,000 SayHello calls at once on one connection (--max-call-rate-per-connection 500)"
        self.start_normal_client()
        connection = self.connect()
        started = time.monotonic()
        sent = 0
        for _ in range(5000):
            stream = open_stream(connection, SAY_HELLO)
            connection.queue(frame(DATA, END_STREAM, stream, grpc_frame(b"\x0a\x04rate")))
            sent += 1
            if sent % 100 == 0:
                connection.exchange(within=1)
                if connection.closed or connection.goaway:
                    break
        took = time.monotonic() - started
        connection.exchange(until=lambda: connection.closed, within=5)
        answer = f"GOAWAY after {sent} calls sent in {took:.2f} s: {connection.summary()}"
        report(case, answer)
        self.assertIsNotNone(connection.goaway, "no GOAWAY: " + answer)
        self.assertEqual(connection.goaway[0], ENHANCE_YOUR_CALM, answer)
        self.assertEqual(connection.goaway[2], "too_many_calls", answer)
        self.assertLessEqual(connection.goaway[1], 2 * (500 + 500 * took + 100), answer)  # stream ids are odd
        self.assertTrue(connection.closed, "still open after the GOAWAY: " + answer)
        self.assert_unharmed(case)


class ConnectionCap(BudgetTestCase):
    # A long connection age: connections that rotate away would make room of themselves.
    server_flags = ["--hard-max-connections", "40", "--max-connection-age", "600s"]

    def test_idle_connections_over_the_cap(self):
        """80 idle connections (handshake done, no stream) on a worker with
        --hard-max-connections 40, then 20 more that each hold a silent stream. Past the cap a
        new connection makes room by closing an idle one, one that never carried a call first
        (GOAWAY NO_ERROR "connection limit"); when none is idle, the new one is closed. The
        normal client's connections, idle between calls, are never the ones closed (closing the
        oldest idle one did: the client reconnected and closed another in turn, 2 closing at once),
        and its calls never fail. Bound: the worker never holds more than 40 client connections
        (+1: the one evicted for the newest is closing)."""
        case = "80 idle connections, then 20 with a silent stream, over --hard-max-connections 40"
        self.start_normal_client()
        base = self.sockets() - len(self.normal.calls)  # the worker's own sockets
        kept = self.socket_inodes()  # its own and the normal client's connections
        most = 0
        for at in range(100):
            connection = self.connect(handshake=False)
            connection.exchange(until=lambda: connection.server_settings is not None or connection.closed,
                                within=5)
            if at >= 80:
                open_stream(connection, SAY_HELLO_STREAM)
                connection.exchange(within=0.05)
            most = max(most, self.sockets() - base)
        self.pump(2)
        evicted = [c for c in self.connections[:80] if c.goaway and c.goaway[2] == "connection limit"]
        refused = [c for c in self.connections[80:] if c.closed and not c.goaway]
        open_now = sum(1 for c in self.connections if not c.closed)
        answer = (f"{len(evicted)} of the 80 idle ones evicted, {len(refused)} of the 20 with a stream "
                  f"closed at once, {open_now} attacker connections open, at most {most} client "
                  f"connections on the worker; first: {self.connections[0].summary()}")
        report(case, answer)
        self.assertLessEqual(most, 41, answer)
        self.assertEqual(kept - (self.socket_inodes() or set()), set(), "the normal client's connections were evicted: " + answer)
        self.assertGreaterEqual(len(evicted), 40, answer)
        self.assertLessEqual(open_now, 40, answer)
        self.assert_unharmed(case)


def paced_output_request(count, size, interval_us):
    """StreamingOutputCallRequest{response_parameters: count x {size, interval_us}}."""
    parameters = h2t.varint(1 << 3) + h2t.varint(size) + h2t.varint(2 << 3) + h2t.varint(interval_us)
    return b"".join(h2t.varint(2 << 3 | 2) + h2t.varint(len(parameters)) + parameters for _ in range(count))


class StreamDeadline(BudgetTestCase):
    binary = "interop"
    server_flags = ["--default-stream-deadline", "1s"]

    def test_default_stream_deadline(self):
        """--default-stream-deadline 1s: a StreamingOutputCall that sends 4 responses 0.7 s apart
        and came without a deadline ends after about 1 s (native: DEADLINE_EXCEEDED; grpc:
        CANCELLED, as gRPC C++ lets the server only cancel); the same call with a 10 s deadline of
        its own gets all 4; a health Watch outlives the default."""
        case = "streams without a deadline under --default-stream-deadline 1s"
        self.start_normal_client()
        host, port = h2t.SERVER.target
        identity = lambda message: message  # noqa: E731
        with grpc.insecure_channel(f"{host}:{port}") as channel:
            call = channel.unary_stream(STREAMING_OUTPUT, request_serializer=identity,
                                        response_deserializer=identity)
            request = paced_output_request(4, 10, 700_000)
            started = time.monotonic()
            with self.assertRaises(grpc.RpcError) as failure:
                list(call(request))
            took = time.monotonic() - started
            expected = grpc.StatusCode.CANCELLED if bh.TRANSPORT == "grpc" else grpc.StatusCode.DEADLINE_EXCEEDED
            answer = f"{failure.exception.code()} {failure.exception.details()} after {took:.2f} s"
            self.assertEqual(failure.exception.code(), expected, answer)
            self.assertTrue(0.9 <= took < 3, answer)
            self.assertEqual(len(list(call(request, timeout=10))), 4)
            watch = channel.unary_stream(HEALTH_WATCH, request_serializer=identity, response_deserializer=identity)
            watching = watch(b"")
            self.assertEqual(next(watching), b"\x08\x01")  # SERVING
            time.sleep(2)  # past the default: the watch must still be open
            self.assertTrue(watching.is_active(), "the health Watch was ended by --default-stream-deadline")
            watching.cancel()
        report(case, answer + "; with its own 10 s deadline: 4 responses; Watch open after 2 s")
        self.assert_unharmed(case)


class StalledReader(BudgetTestCase):
    binary = "interop"
    # A connection with responses waiting parks its new calls past its own response budget
    # (16 MiB unsent) or the worker's (64 MiB unsent over all connections); calls already running
    # when the budget was crossed still make theirs (1 MiB each here), and the allocator keeps
    # what 16 pool threads freed. Measured: +149 to +151 MiB (+197 MiB without the worker's budget).
    rss_bound = 192 * MiB

    def test_client_that_stops_reading(self):
        """10 connections, each granting the whole window and asking for 14 x UnaryCall(1 MiB),
        then reading nothing (a 4 KiB receive buffer): the worker's writes stop. After
        --write-timeout (30 s) without write progress each connection is closed (it was: open
        for good). Bound: the worker's sockets back to what they were within 40 s, not before
        25 s; the RSS bound below."""
        case = "10 connections x 14 MiB of responses, never read"
        self.start_normal_client()
        before = self.sockets()
        started = time.monotonic()
        for _ in range(10):
            connection = self.connect(settings={SETTINGS_INITIAL_WINDOW_SIZE: MAX_WINDOW}, receive_buffer=4096)
            connection.queue(window_update(0, MAX_WINDOW - 65535))
            for _ in range(14):
                stream = open_stream(connection, UNARY_CALL)
                connection.queue(frame(DATA, END_STREAM, stream, grpc_frame(h2t.simple_request(MiB))))
            connection.exchange(read=False, within=2)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and self.sockets() > before:
            time.sleep(0.2)
        took = time.monotonic() - started
        after = self.sockets()
        report(case, f"worker sockets {before} before, {after} after {took:.1f} s")
        self.assertLessEqual(after, before, f"the stalled connections are still open after {took:.1f} s")
        self.assertGreater(took, 25, f"closed before --write-timeout ({took:.1f} s)")
        self.assert_unharmed(case)


def scraped(address, sample):
    """The value of one sample on the master's /metrics at `address`, or None."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
    return None


def write_timed_out(connection, ids):
    """The streams of `ids` the server cancelled for --stream-write-timeout. Native resets the
    stream (RST_STREAM CANCEL); gRPC C++'s TryCancel sends grpc-status 1 (CANCELLED) trailers
    first, then RST_STREAM NO_ERROR. Clients see CANCELLED either way."""
    if bh.TRANSPORT == "native":
        return [s for s in ids if connection.resets.get(s) == CANCEL]
    return [s for s in ids if s in connection.resets and cancelled_by_server(connection, s)]


class WriteTimeoutCase(BudgetTestCase):
    """Streams whose client never opens its flow-control window, ended by a short
    --stream-write-timeout."""
    timeout = 2
    server_flags = ["--stream-write-timeout", f"{timeout}s", "--metrics-address", "127.0.0.1:0"]

    def assert_write_timeouts(self, case, attack, started):
        """Every stream of `attack` (a list of (connection, stream ids)) cancelled after
        --stream-write-timeout and within 4 times it, each logged once and counted once in
        gryphon_stream_write_timeouts_total."""
        total = sum(len(ids) for _, ids in attack)
        reset = lambda: sum(len(write_timed_out(c, ids)) for c, ids in attack)  # noqa: E731
        self.pump(4 * self.timeout, until=lambda: reset() == total)
        took = time.monotonic() - started
        answer = f"{reset()} of {total} cancelled after {took:.1f} s: {attack[0][0].summary()}"
        report(case, answer)
        self.assertEqual(reset(), total, answer)
        self.assertGreater(took, self.timeout - 0.2, "reset before --stream-write-timeout: " + answer)
        said = "resetting stream" if bh.TRANSPORT == "native" else "cancelling a stream"
        logged = lambda: h2t.SERVER.log().count("(--stream-write-timeout)")  # noqa: E731
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and logged() < total:
            time.sleep(0.05)
        self.assertEqual(logged(), total, f"server log lines that {said}: {logged()}")
        # And counted (the master's /metrics sums the workers' heartbeats).
        address = re.search(r"ready listen=\S+ metrics=(\S+)", h2t.SERVER.log()).group(1)
        counted = lambda: scraped(address, 'gryphon_stream_write_timeouts_total{slot="0"}')  # noqa: E731
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and counted() != total:
            time.sleep(0.1)
        self.assertEqual(counted(), total, "gryphon_stream_write_timeouts_total")


class StreamWriteTimeout(WriteTimeoutCase):
    binary = "interop"

    def test_streams_never_read(self):
        """--stream-write-timeout 2s: 10 StreamingOutputCall streams on one connection, each
        asking for two 256 KiB responses, whose client never opens a flow-control window (no
        WINDOW_UPDATE). Each handler's write waits; after 2 s without progress the call is reset
        (RST_STREAM CANCEL), the write returns false and the pool thread is free (without the
        timeout they held 10 of the 12 streaming threads until the connection closed; gRPC C++
        cancels the call instead, with CANCELLED trailers). Bound:
        all 10 reset within 2–8 s, the server logs each, and 10 new streams then complete at
        once on a normal client."""
        case = "10 server streams whose client never opens its window"
        self.start_normal_client()
        connection = self.connect()
        started = time.monotonic()
        ids = []
        for _ in range(10):
            stream = open_stream(connection, STREAMING_OUTPUT)
            connection.queue(frame(DATA, END_STREAM, stream,
                                   grpc_frame(h2t.streaming_output_request([256 << 10, 256 << 10]))))
            ids.append(stream)
        self.assert_write_timeouts(case, [(connection, ids)], started)
        # The threads are free: 10 streams at once complete on a client that reads.
        host, port = h2t.SERVER.target
        identity = lambda message: message  # noqa: E731
        with grpc.insecure_channel(f"{host}:{port}") as channel:
            call = channel.unary_stream(STREAMING_OUTPUT, request_serializer=identity,
                                        response_deserializer=identity)
            calls = [call(h2t.streaming_output_request([256 << 10, 256 << 10]), timeout=10) for _ in range(10)]
            self.assertEqual([len(list(c)) for c in calls], [2] * 10)
        self.assert_unharmed(case)


TICKS = "/gryphon.test.AsyncDrill/Ticks"


def ticks_request(count, interval_millis, payload_bytes):
    """A TicksRequest (fields 1, 2 and 3, all varints)."""
    def varint(value):
        out = bytearray()
        while True:
            out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
            value >>= 7
            if not value:
                return bytes(out)
    return b"\x08" + varint(count) + b"\x10" + varint(interval_millis) + b"\x18" + varint(payload_bytes)


class AsyncStreamsNeverRead(WriteTimeoutCase):
    timeout = 4
    server_flags = ["--stream-write-timeout", f"{timeout}s", "--metrics-address", "127.0.0.1:0"]
    threads = 16  # --threads' default

    def test_async_streams_never_read(self):
        """3 × --threads (48) AsyncDrill/Ticks streams over 3 connections, each asking for four
        256 KiB ticks, whose client never opens a flow-control window. An async stream waiting
        on a closed window holds no thread, so while all 48 wait, 48 more Ticks streams on a
        normal client complete, and the normal client's unary calls, pool handlers and
        SayHelloStream keep working. After --stream-write-timeout (4 s here) without progress
        each is cancelled, logged and counted. Bound: 0 normal failures; all 48 reset within
        4–16 s."""
        case = "48 async server streams over 3 connections whose client never opens its window"
        self.start_normal_client()
        started = time.monotonic()
        attack = []
        for _ in range(3):
            connection = self.connect()
            ids = []
            for _ in range(self.threads):
                stream = open_stream(connection, TICKS)
                connection.queue(frame(DATA, END_STREAM, stream, grpc_frame(ticks_request(4, 0, 256 << 10))))
                ids.append(stream)
            attack.append((connection, ids))
        # Every attacker stream is answered (HEADERS) and waits on its window.
        waiting = lambda: sum(s in c.headers for c, ids in attack for s in ids)  # noqa: E731
        self.pump(self.timeout / 2, until=lambda: waiting() == 3 * self.threads)
        self.assertEqual(waiting(), 3 * self.threads, "attacker streams answered: " + attack[0][0].summary())
        # Meanwhile a client that reads gets 48 more at once, done before the attackers time out.
        host, port = h2t.SERVER.target
        identity = lambda message: message  # noqa: E731
        with grpc.insecure_channel(f"{host}:{port}") as channel:
            call = channel.unary_stream(TICKS, request_serializer=identity, response_deserializer=identity)
            calls = [call(ticks_request(2, 100, 1024), timeout=self.timeout / 2) for _ in range(3 * self.threads)]
            self.assertEqual([len(list(c)) for c in calls], [2] * (3 * self.threads))
        self.assertTrue(all(not write_timed_out(c, ids) for c, ids in attack),
                        "an attacker stream ended before the normal Ticks did: " + attack[0][0].summary())
        report(case, f"while they waited: {3 * self.threads} Ticks streams of a normal client OK")
        self.assert_write_timeouts(case, attack, started)
        self.assert_unharmed(case)


def main():
    args = sys.argv[1:]
    if len(args) < 2 or not all(os.access(path, os.X_OK) for path in args[:2]):
        sys.exit("usage: hostile_budgets_test.py <drill_server> <interop_server> [--only Class.test]... "
                 "[--skip Class.test=why]... [server flags]")
    bh.DRILL_SERVER, bh.INTEROP_SERVER = args[:2]
    rest, only, skips, transport = h2t.split_args(args[2:])
    h2t.skip_named(skips, globals(), "hostile_budgets_test.py")
    bh.SERVER_FLAGS = rest
    h2t.SERVER_FLAGS = rest
    bh.TRANSPORT = transport
    sys.exit(h2t.run_tests(only, bh.LOGS))

if __name__ == "__main__":
    main()
