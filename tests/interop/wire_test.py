#!/usr/bin/env python3
"""Wire-level checks of gryphon's streaming calls with python3-h2, a client gryphon did not write.

    wire_test.py <interop_server binary> [server flags, e.g. --transport grpc]

Starts the interop server (grpc.testing.TestService on gryphon) on a loopback port it picks and
speaks HTTP/2 to it frame by frame, so each test sees what a gRPC library would hide:
- server_compressed_streaming (gRPC's interop descriptions): the first response is compressed
  (flag byte 1, gzip) and the second is not (flag byte 0), in one call that compresses;
- a streaming handler's response headers arrive before its first message;
- hinted writes (buffer_hint, then last_message) complete, and the last message leaves in the
  same write as the status.
Protobuf messages are encoded by hand (a few fields), so the test needs no generated code.
"""

import gzip
import os
import socket
import sys
import time
import unittest
import zlib

import h2.config
import h2.connection
import h2.events

from interop_process import InteropServer

SERVER = None
TARGET = None
SERVICE = "/grpc.testing.TestService/"


# ---------------------------------------------------------------- protobuf by hand

def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, data):
    return varint((number << 3) | 2) + varint(len(data)) + data


def response_parameters(size, compressed=None, interval_us=0):
    """grpc.testing.ResponseParameters: size=1, interval_us=2, compressed=3 (BoolValue value=1)."""
    data = field_varint(1, size)
    if interval_us:
        data += field_varint(2, interval_us)
    if compressed is not None:
        data += field_bytes(3, field_varint(1, 1) if compressed else b"")
    return data


def streaming_output_request(parameters):
    """grpc.testing.StreamingOutputCallRequest: response_parameters=2 (repeated)."""
    return b"".join(field_bytes(2, p) for p in parameters)


def read_varint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def length_delimited(data, number):
    """The first length-delimited field `number` of a message, or None."""
    at = 0
    while at < len(data):
        key, at = read_varint(data, at)
        kind = key & 7
        if kind == 0:
            _, at = read_varint(data, at)
        elif kind == 2:
            length, at = read_varint(data, at)
            if key >> 3 == number:
                return data[at:at + length]
            at += length
        else:
            raise AssertionError(f"unexpected wire type {kind} in {data[:32]!r}")
    return None


def payload_size(response):
    """StreamingOutputCallResponse.payload (1) .body (2): its length."""
    payload = length_delimited(response, 1)
    body = length_delimited(payload or b"", 2)
    return len(body or b"")


def grpc_frame(message):
    return b"\x00" + len(message).to_bytes(4, "big") + message


def split_messages(data):
    """gRPC length-prefixed messages: [(compressed flag, bytes)]."""
    messages, at = [], 0
    while at < len(data):
        assert len(data) - at >= 5, f"a cut-off message prefix: {data[at:]!r}"
        flag, length = data[at], int.from_bytes(data[at + 1:at + 5], "big")
        messages.append((flag, data[at + 5:at + 5 + length]))
        at += 5 + length
    return messages


# ---------------------------------------------------------------- one HTTP/2 call

class Call:
    """One gRPC call on its own connection. Records every event with the time it arrived and
    which socket read delivered it."""

    def __init__(self, method, message, headers=(), deadline=10.0):
        self.sock = socket.create_connection(TARGET, timeout=deadline)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.deadline = time.monotonic() + deadline
        self.events = []  # (seconds since start, read number, event)
        self.start = time.monotonic()
        self.stream = self.conn.get_next_available_stream_id()
        request_headers = [
            (":method", "POST"), (":scheme", "http"), (":path", SERVICE + method),
            (":authority", f"{TARGET[0]}:{TARGET[1]}"), ("content-type", "application/grpc"), ("te", "trailers"),
            ("grpc-accept-encoding", "identity,deflate,gzip"), ("user-agent", "gryphon-wire-test (python-h2)"),
        ] + list(headers)
        self.conn.send_headers(self.stream, request_headers)
        body = grpc_frame(message)
        step = self.conn.max_outbound_frame_size
        for at in range(0, len(body), step):
            self.conn.send_data(self.stream, body[at:at + step], end_stream=at + step >= len(body))
        self.sock.sendall(self.conn.data_to_send())

    def run(self):
        """Reads until the stream ends; returns self."""
        reads = 0
        while time.monotonic() < self.deadline:
            data = self.sock.recv(1 << 20)
            if not data:
                break
            reads += 1
            now = time.monotonic() - self.start
            for event in self.conn.receive_data(data):
                self.events.append((now, reads, event))
                if isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            self.sock.sendall(self.conn.data_to_send())
            if any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) for _, _, e in self.events):
                break
        self.sock.close()
        return self

    def of(self, kind):
        return [(t, r, e) for t, r, e in self.events if isinstance(e, kind)]

    def response_headers(self):
        return dict(self.of(h2.events.ResponseReceived)[0][2].headers)

    def trailers(self):
        found = self.of(h2.events.TrailersReceived)
        return dict(found[0][2].headers) if found else {}

    def body(self):
        return b"".join(e.data for _, _, e in self.of(h2.events.DataReceived))

    def describe(self):
        return "\n".join(f"  {t * 1000:8.1f} ms read {r}: {type(e).__name__} "
                         f"{getattr(e, 'headers', '') or len(getattr(e, 'data', b''))}" for t, r, e in self.events)


def decompress(encoding, data):
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    raise AssertionError(f"a compressed message with grpc-encoding {encoding!r}")


# ---------------------------------------------------------------- tests

class StreamingOnTheWire(unittest.TestCase):
    def test_server_compressed_streaming_compresses_the_first_response_and_not_the_second(self):
        # As in the interop descriptions: sizes 31415 (compressed) and 92653 (not).
        call = Call("StreamingOutputCall", streaming_output_request([
            response_parameters(31415, compressed=True), response_parameters(92653, compressed=False)])).run()
        report = call.describe()
        self.assertEqual(call.trailers().get("grpc-status"), "0", report)
        encoding = call.response_headers().get("grpc-encoding")
        self.assertIn(encoding, ("gzip", "deflate"), report)
        messages = split_messages(call.body())
        self.assertEqual([flag for flag, _ in messages], [1, 0], report)
        first = decompress(encoding, messages[0][1])
        self.assertLess(len(messages[0][1]), len(first), "the compressed message is not smaller")
        self.assertEqual(payload_size(first), 31415)
        self.assertEqual(payload_size(messages[1][1]), 92653)

    def test_a_streaming_handler_sends_its_headers_before_its_first_message(self):
        # The server waits 2 s before the first response; it sent its headers before waiting. They
        # arrive in an earlier read than the message, and at least half the wait before it (the
        # other half is slack for a loaded machine under ASan).
        call = Call("StreamingOutputCall", streaming_output_request([response_parameters(10, interval_us=2_000_000)]),
                    headers=[("x-grpc-test-echo-initial", "early")]).run()
        report = call.describe()
        headers = call.of(h2.events.ResponseReceived)
        data = call.of(h2.events.DataReceived)
        self.assertTrue(headers and data, report)
        self.assertEqual(call.response_headers().get("x-grpc-test-echo-initial"), "early", report)
        self.assertLess(headers[0][1], data[0][1], "headers came with the first message:\n" + report)
        self.assertGreater(data[0][0] - headers[0][0], 1.0, "headers waited for the first message:\n" + report)
        self.assertEqual(call.trailers().get("grpc-status"), "0", report)

    def test_hinted_writes_complete_and_the_last_message_leaves_with_the_status(self):
        sizes = [100, 200, 300, 400]
        call = Call("StreamingOutputCall", streaming_output_request([response_parameters(n) for n in sizes]),
                    headers=[("x-gryphon-write-hints", "1")]).run()
        report = call.describe()
        self.assertEqual(call.trailers().get("grpc-status"), "0", report)
        self.assertEqual([payload_size(m) for _, m in split_messages(call.body())], sizes, report)
        # Same read, not same write: TCP keeps no write boundaries. On loopback one small write
        # arrives as one segment, so separate writes show as separate reads unless the client
        # fell behind both (a pass that proves less, never a false failure).
        last_data = call.of(h2.events.DataReceived)[-1]
        trailers = call.of(h2.events.TrailersReceived)[0]
        self.assertEqual(last_data[1], trailers[1], "the last message and the status came in separate reads:\n" + report)

    def test_a_client_streaming_response_leaves_with_the_status(self):
        # StreamingInputCall: the handler's one response is written as the last message.
        payload = field_bytes(1, field_bytes(2, b"x" * 27182))  # StreamingInputCallRequest.payload.body
        call = Call("StreamingInputCall", payload).run()
        report = call.describe()
        self.assertEqual(call.trailers().get("grpc-status"), "0", report)
        messages = split_messages(call.body())
        self.assertEqual(len(messages), 1, report)
        self.assertEqual(call.of(h2.events.DataReceived)[-1][1], call.of(h2.events.TrailersReceived)[0][1], report)


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: wire_test.py <interop_server binary> [server flags]")
    global SERVER, TARGET
    SERVER = InteropServer(sys.argv[1], sys.argv[2:])
    TARGET = SERVER.target
    try:
        result = unittest.main(argv=sys.argv[:1], exit=False, verbosity=2).result
        if not result.wasSuccessful():
            print("server log:\n" + SERVER.log())
    finally:
        SERVER.stop()
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
