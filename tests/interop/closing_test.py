#!/usr/bin/env python3
"""How a connection ends: with everything the server sent delivered and a FIN, never a RST,
however the client behaves while the server closes it — the difference a proxy in front of
gryphon sees as a clean close or as "recv() failed (104: Connection reset by peer)".

    closing_test.py <interop_server> [--only Class.test]... [--skip Class.test=why]... [server flags]

Linux answers a close() with RST instead of FIN when input is still unread, and it resets every
connection still queued on a listening socket when the socket's last copy closes; a RST can
destroy what the server wrote last (the GOAWAY, the last response) before the client reads it.
Each test starts a server of its own (one worker) and checks, for every one of its connections,
how the connection ended ("EOF" is a FIN, "ECONNRESET" a reset) and what arrived before.
Waits are on conditions with deadlines.
"""

import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile_h2_test as h2t  # noqa: E402
from hostile_h2_test import (NO_ERROR, WINDOW_UPDATE, Raw, call_frames, frame, report,  # noqa: E402
                             the_worker)
from interop_process import InteropServer  # noqa: E402

LOGS = {}


def sockets_of(pid):
    """How many sockets process `pid` holds open."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def window_update(increment=1):
    return frame(WINDOW_UPDATE, 0, 0, increment.to_bytes(4, "big"))


class ClosingTestCase(unittest.TestCase):
    server_flags = []

    def setUp(self):
        h2t.SERVER = InteropServer(h2t.BINARY, h2t.SERVER_FLAGS, flags=self.server_flags)
        LOGS[self.id()] = h2t.SERVER.log_path
        self.connections = []

    def tearDown(self):
        for connection in self.connections:
            connection.close()
        h2t.SERVER.stop(remove_log=False)

    def ends(self):
        ends = {}
        for connection in self.connections:
            ends[connection.closed or "open"] = ends.get(connection.closed or "open", 0) + 1
        return ends


class ChattyClients(ClosingTestCase):
    server_flags = ["--max-connection-age", "1s"]

    def test_clients_that_keep_sending_get_a_fin(self):
        """20 connections, each with one call answered, then sending a connection WINDOW_UPDATE
        every 5 ms (as a busy proxy sends frames) and never answering the drain's PING. At
        --max-connection-age (1 s) each gets the two-step GOAWAY and is closed; the server stops
        writing, sends its FIN and reads and drops what still comes until the client closes or
        a second passes. Bound: all 20 end with EOF (not ECONNRESET) after a GOAWAY NO_ERROR,
        within 10 s."""
        case = "20 connections sending WINDOW_UPDATEs every 5 ms through max-connection-age 1 s"
        streams = {}
        for _ in range(20):
            connection = Raw()
            self.connections.append(connection)
            streams[connection] = call_frames(connection, "EmptyCall", b"")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(c.closed for c in self.connections):
            for connection in self.connections:
                if not connection.closed:
                    connection.queue(window_update())
                    connection.exchange(within=0.005)
        for connection in self.connections:  # whatever the server sent last, up to its close
            connection.exchange(until=lambda c=connection: c.closed, within=2)
        ends = self.ends()
        answer = f"ends: {ends}; first: {self.connections[0].summary()}"
        report(case, answer)
        self.assertEqual(ends, {"EOF": 20}, answer)
        for connection, stream in streams.items():
            self.assertEqual(connection.header(stream, "grpc-status"), "0", connection.summary())
            self.assertIsNotNone(connection.goaway, connection.summary())
            self.assertEqual(connection.goaway[0], NO_ERROR, connection.summary())


class AcceptQueue(ClosingTestCase):
    server_flags = ["--drain-delay", "0s", "--max-connection-age", "600s"]

    def test_a_stopping_server_serves_its_accept_queue(self):
        """The worker is stopped (SIGSTOP), 20 clients connect — the kernel accepts them into the
        listening socket's queue — and each sends its preface and one EmptyCall. Then the master
        gets TERM (drain-delay 0: it closes its copy of the listening socket and tells the worker
        to drain at once) and the worker continues. Whether the worker sees its queue or the
        drain first, it takes every queued connection before it closes the last copy of the
        socket, so each call is answered grpc-status 0 and each connection ends with EOF; none
        is reset. Bound: within 15 s."""
        case = "20 connections in the accept queue when the server stops"
        worker = the_worker()
        os.kill(worker, signal.SIGSTOP)
        try:
            streams = {}
            for _ in range(20):
                connection = Raw(handshake=False)
                self.connections.append(connection)
                streams[connection] = call_frames(connection, "EmptyCall", b"")
                connection.exchange(read=False, within=1)  # sent: it waits in the kernel
            master = h2t.SERVER.pid
            before = sockets_of(master)
            h2t.SERVER.process.send_signal(signal.SIGTERM)
            # The master closes its listening socket and, in the same turn, sends the worker its
            # drain order: once its socket count drops, the order waits on the worker's control
            # socket beside the queued connections.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and sockets_of(master) >= before:
                time.sleep(0.01)
            self.assertLess(sockets_of(master), before, "the master did not close its listening socket")
        finally:
            os.kill(worker, signal.SIGCONT)
        for connection in self.connections:
            connection.exchange(until=lambda c=connection: c.closed, within=15)
        ends = self.ends()
        answer = f"ends: {ends}; first: {self.connections[0].summary()}"
        report(case, answer)
        statuses = [connection.header(stream, "grpc-status") for connection, stream in streams.items()]
        self.assertEqual(statuses, ["0"] * 20, answer)
        self.assertEqual(ends, {"EOF": 20}, answer)
        self.assertIsNotNone(h2t.SERVER.process.wait(timeout=15))


def main():
    args = sys.argv[1:]
    if not args or not os.access(args[0], os.X_OK):
        sys.exit("usage: closing_test.py <interop_server> [--only Class.test]... [--skip Class.test=why]... "
                 "[server flags]")
    h2t.BINARY = args[0]
    rest, only, skips, transport = h2t.split_args(args[1:])
    h2t.skip_named(skips, globals(), "closing_test.py")
    h2t.SERVER_FLAGS, h2t.TRANSPORT = rest, transport
    sys.exit(h2t.run_tests(only, LOGS))


if __name__ == "__main__":
    main()
