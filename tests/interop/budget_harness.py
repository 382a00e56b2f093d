"""What hostile_budgets_test.py's attacks share: the servers it starts, a raw HTTP/2 connection
that keeps the server's flow-control credit, the normal client that keeps calling during an
attack, and the test case that checks it, the worker's RSS and the worker itself afterwards.
main() of the test sets DRILL_SERVER, INTEROP_SERVER, SERVER_FLAGS and TRANSPORT here."""

import os
import sys
import threading
import time
import unittest

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile_h2_test as h2t  # noqa: E402  (the raw HTTP/2 client and the RSS watch)
from hostile_h2_test import (DATA, END_STREAM, SETTINGS_INITIAL_WINDOW_SIZE, WINDOW_UPDATE, MiB, Raw,  # noqa: E402
                             RssWatch, frame, report)
from interop_process import InteropServer, alive  # noqa: E402

DRILL_SERVER = None
INTEROP_SERVER = None
SERVER_FLAGS = []
TRANSPORT = "native"  # the server's --transport
LOGS = {}

SLEEP = "/gryphon.test.Drill/Sleep"
SAY_HELLO = "/helloworld.Greeter/SayHello"
SAY_HELLO_STREAM = "/helloworld.Greeter/SayHelloStream"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_WATCH = "/grpc.health.v1.Health/Watch"
EMPTY_CALL = "/grpc.testing.TestService/EmptyCall"
UNARY_CALL = "/grpc.testing.TestService/UnaryCall"
STREAMING_OUTPUT = "/grpc.testing.TestService/StreamingOutputCall"
HELLO = b"\x0a\x05world"  # HelloRequest{name: "world"}


def headers(path, extra=()):
    host, port = h2t.SERVER.target
    return [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", f"{host}:{port}"),
            ("content-type", "application/grpc"), ("te", "trailers"),
            ("user-agent", "gryphon-hostile-budgets-test (python-h2)")] + list(extra)


def open_stream(connection, path, extra=()):
    stream = connection.h2.get_next_available_stream_id()
    connection.h2.send_headers(stream, headers(path, extra))
    connection.queue_h2()
    return stream


class Windowed(Raw):
    """A Raw connection that keeps the server's flow-control credit (WINDOW_UPDATE), so that it can
    send as much as the server lets it and no more."""

    def __init__(self, **options):
        self.windows = {0: 65535}  # stream -> bytes the server lets us send; 0 is the connection
        super().__init__(**options)

    def _on_frame(self, kind, flags, stream, payload):
        if kind == WINDOW_UPDATE:
            initial = (self.server_settings or {}).get(SETTINGS_INITIAL_WINDOW_SIZE, 65535)
            self.windows[stream] = self.windows.get(stream, initial) + int.from_bytes(payload[:4], "big")
        super()._on_frame(kind, flags, stream, payload)

    def send_within_window(self, stream, data, end_stream=False):
        """Queues as much of `data` as the windows allow, in 16 KiB frames; returns what is left."""
        initial = (self.server_settings or {}).get(SETTINGS_INITIAL_WINDOW_SIZE, 65535)
        while data:
            room = min(16384, self.windows.get(stream, initial), self.windows[0], len(data))
            if room <= 0:
                return data
            self.queue(frame(DATA, END_STREAM if end_stream and room == len(data) else 0, stream, data[:room]))
            self.windows[stream] = self.windows.get(stream, initial) - room
            self.windows[0] -= room
            data = data[room:]
        return data


class NormalClient:
    """grpcio calls in a loop on a thread, each kind on a channel of its own, until stop()."""

    def __init__(self, calls):
        self.calls = calls  # name -> (kind, path, request)
        self.ok = {name: 0 for name in calls}
        self.failed = {name: 0 for name in calls}
        self.failures = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(name,), daemon=True) for name in calls]
        for thread in self._threads:
            thread.start()

    def _run(self, name):
        kind, path, request = self.calls[name]
        host, port = h2t.SERVER.target
        with grpc.insecure_channel(f"{host}:{port}", options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            identity = lambda message: message  # noqa: E731
            if kind == "unary":
                call = channel.unary_unary(path, request_serializer=identity, response_deserializer=identity)
            else:
                call = channel.unary_stream(path, request_serializer=identity, response_deserializer=identity)
            while not self._stop.is_set():
                try:
                    result = call(request, timeout=5)
                    if kind != "unary":
                        list(result)
                    self.ok[name] += 1
                except grpc.RpcError as error:
                    self.failed[name] += 1
                    if len(self.failures) < 5:
                        self.failures.append(f"{name}: {error.code()} {error.details()}")
                self._stop.wait(0.02)

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def describe(self):
        return ", ".join(f"{name} {self.ok[name]} ok/{self.failed[name]} failed" for name in self.calls)


DRILL_CALLS = {"Sleep (pool)": ("unary", SLEEP, b""), "SayHello (inline)": ("unary", SAY_HELLO, HELLO),
               "SayHelloStream": ("stream", SAY_HELLO_STREAM, HELLO), "Health/Check": ("unary", HEALTH_CHECK, b"")}
INTEROP_CALLS = {"EmptyCall (pool)": ("unary", EMPTY_CALL, b""),
                 "StreamingOutputCall": ("stream", STREAMING_OUTPUT, h2t.streaming_output_request([10, 10])),
                 "Health/Check": ("unary", HEALTH_CHECK, b"")}


class BudgetTestCase(unittest.TestCase):
    binary = "drill"
    server_flags = []
    rss_bound = 64 * MiB

    def setUp(self):
        binary = DRILL_SERVER if self.binary == "drill" else INTEROP_SERVER
        h2t.SERVER = InteropServer(binary, SERVER_FLAGS, flags=self.server_flags)
        LOGS[self.id()] = h2t.SERVER.log_path
        self.worker = h2t.the_worker()
        self.watch = RssWatch(self.worker)
        self.connections = []
        self.normal = None

    def tearDown(self):
        if self.normal:
            self.normal.stop()
        self.watch.stop()
        for connection in self.connections:
            connection.close()
        h2t.SERVER.stop(remove_log=False)

    def connect(self, **options):
        connection = Windowed(**options)
        self.connections.append(connection)
        return connection

    def start_normal_client(self):
        self.normal = NormalClient(DRILL_CALLS if self.binary == "drill" else INTEROP_CALLS)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(self.normal.ok.values()):
            time.sleep(0.05)
        self.assertTrue(all(self.normal.ok.values()), "the normal client did not get going before the attack: "
                        + self.normal.describe() + " " + "; ".join(self.normal.failures))

    def pump(self, seconds, until=None):
        """Reads (and sends what is queued) on every attacker connection for `seconds`, or until
        `until()` holds."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if until is not None and until():
                return True
            for connection in self.connections:
                if not connection.closed:
                    connection.exchange(within=0.02)
            if all(connection.closed for connection in self.connections):
                time.sleep(0.02)
        return until is not None and until()

    def over_bound(self):
        return self.watch.growth() > self.rss_bound

    def sockets(self):
        """How many open sockets the worker has (listening, control and client connections)."""
        inodes = self.socket_inodes()
        return -1 if inodes is None else len(inodes)

    def socket_inodes(self):
        """The worker's open sockets as a set of "socket:[inode]" names, or None if unreadable."""
        try:
            names = (os.readlink(f"/proc/{self.worker}/fd/{fd}") for fd in os.listdir(f"/proc/{self.worker}/fd"))
            return {name for name in names if name.startswith("socket:")}
        except OSError:
            return None

    def send_all(self, connection, left, seconds):
        """Sends each stream's bytes in `left` (stream -> bytes) as the server's windows allow,
        until every stream has ended, the connection closed, the RSS bound is crossed or `seconds`
        have passed; returns the seconds it took."""
        return self.send_all_on([(connection, left)], seconds)

    def send_all_on(self, attacks, seconds):
        """send_all over several connections: `attacks` is a list of (connection, left)."""
        started = time.monotonic()

        def done(connection, left):
            return all(stream in connection.ended for stream in left) or connection.closed

        def send_more():
            for connection, left in attacks:
                for stream, data in left.items():
                    if stream not in connection.ended and data:
                        left[stream] = connection.send_within_window(stream, data)
            return all(done(*attack) for attack in attacks) or self.over_bound()
        self.pump(seconds, until=send_more)
        return time.monotonic() - started

    def assert_unharmed(self, case):
        """The normal client's record, the RSS bound and the same worker."""
        self.normal.stop()
        self.watch.stop()
        normal, memory = self.normal.describe(), self.watch.describe()
        report(case, f"normal client: {normal}; {memory} (bound +{self.rss_bound / MiB:.0f} MiB)")
        self.assertEqual(sum(self.normal.failed.values()), 0,
                         f"{case}: the normal client had failed calls: {normal}: {'; '.join(self.normal.failures)}")
        self.assertLess(self.watch.growth(), self.rss_bound, f"{case}: {memory}")
        self.assertTrue(alive(self.worker), f"{case}: worker {self.worker} died\n{h2t.SERVER.log()[-4000:]}")
        self.assertEqual(h2t.SERVER.workers(), [self.worker], f"{case}: the worker was replaced")


def ended_with(connection, stream, status):
    return connection.header(stream, "grpc-status") == status


def cancelled_by_server(connection, stream):
    """grpc-status CANCELLED: native names --first-message-timeout, gRPC C++ (TryCancel) says
    "Cancelled on the server side"."""
    return ended_with(connection, stream, "1")
