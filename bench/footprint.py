#!/usr/bin/env python3
"""Measures what an RPC and an idle connection cost four servers besides CPU time: syscalls per
RPC and resident memory per idle HTTP/2 connection, for the raw gRPC C++ async server, grpc-go and
gryphon's defaults on both transports, then 10,000 idle connections held by one native worker.

1. Syscalls: each server is warmed up with gryphon-bench, then `strace -c -f` is attached to every
   thread of every process of the server while gryphon-bench runs for --trace-duration seconds;
   its summary, divided by the RPCs that ended OK, gives the syscalls per RPC by kind.
2. Idle connections: after a warm-up burst, --idle connections each complete the HTTP/2 handshake
   (client preface and SETTINGS, the server's SETTINGS, our SETTINGS ack) and then stay silent;
   the growth of the server's proportional set size (PSS, from /proc/PID/smaps_rollup, summed
   over its processes) once it has settled, divided by their count, is the memory per connection.
3. Held: --idle-max idle connections to one gryphon native worker: still open, an RPC still
   served, the memory they take and the worker's open-file limit.

The candidates, their commands and the server harness come from compare.py. Writes
results/footprint.md and results/footprint.json. Only the Python 3 standard library is used.
"""

import argparse
import dataclasses
import json
import os
import resource
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from compare import (BENCH_TARGETS, DISTURBED_LOAD, GRYPHON_CANDIDATES, RAW_CANDIDATES, REFERENCE_CANDIDATES, Server,
                     add_pinning_args, log, machine_description, read_pinning_args, run_generator)

HERE = Path(__file__).resolve().parent

FOOTPRINT_CANDIDATES = ["raw-async-1t", "grpc-go", "gryphon-1w-defaults", "gryphon-grpc-1w-defaults"]
HELD_CANDIDATE = "gryphon-1w-defaults"

# gryphon's --max-connection-age (10 s by default) sends every connection a GOAWAY after 9-11 s
# and closes it once the client fails to answer the drain's PING: idle connections would be gone
# before the measurement ends. The idle and held phases run gryphon with this added; the
# rotation check runs the unchanged command to show what the default does.
GRYPHON_IDLE_OVERRIDE = ["--max-connection-age", "3600s"]

# What the syscalls are summed into, by the name strace reports.
SYSCALL_KINDS = {
    "write": {"write", "writev", "sendmsg", "sendto", "sendmmsg", "pwrite64", "pwritev"},
    "read": {"read", "readv", "recvmsg", "recvfrom", "recvmmsg", "pread64", "preadv"},
    "epoll_wait": {"epoll_wait", "epoll_pwait", "epoll_pwait2"},
    "futex": {"futex"},
}
MIN_TRACED_RPCS = 1000

# HTTP/2 framing for the idle connections (RFC 9113): a 9-byte header, then the payload.
FRAME_SETTINGS, FRAME_GOAWAY = 0x4, 0x7
FLAG_ACK = 0x1


def frame(kind, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


CLIENT_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(FRAME_SETTINGS, 0, 0)
SETTINGS_ACK = frame(FRAME_SETTINGS, FLAG_ACK, 0)
OPEN_BATCH = 200  # connections connected before their handshakes are awaited


# --- idle HTTP/2 connections ----------------------------------------------------------------

class IdleConnection:
    """A TCP connection that completed the HTTP/2 handshake and sends nothing more."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.goaway = False
        self.closed = False
        self.sock.sendall(CLIENT_PREFACE)

    def _frames(self):
        """The complete frames received so far, as (type, flags), consumed from the buffer."""
        frames = []
        while len(self.buffer) >= 9:
            length = int.from_bytes(self.buffer[:3], "big")
            if len(self.buffer) < 9 + length:
                break
            frames.append((self.buffer[3], self.buffer[4]))
            self.buffer = self.buffer[9 + length:]
        self.goaway = self.goaway or any(kind == FRAME_GOAWAY for kind, _ in frames)
        return frames

    def finish_handshake(self, deadline):
        """Waits for the server's SETTINGS, then acknowledges them."""
        while True:
            if any(kind == FRAME_SETTINGS and not flags & FLAG_ACK for kind, flags in self._frames()):
                self.sock.sendall(SETTINGS_ACK)
                return
            if self.goaway:
                raise RuntimeError("the server sent GOAWAY instead of its SETTINGS")
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise RuntimeError("no SETTINGS frame from the server within 10 s") from None
            if not data:
                raise RuntimeError("the server closed the connection before sending its SETTINGS")
            self.buffer += data

    def poll(self):
        """Reads whatever arrived without blocking; notes a GOAWAY or the server's close."""
        self.sock.setblocking(False)
        try:
            while not self.closed:
                data = self.sock.recv(65536)
                if not data:
                    self.closed = True
                self.buffer += data
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.closed = True
        self._frames()

    def close(self):
        self.sock.close()


def open_idle_connections(port, count, label):
    """count handshaken idle connections to 127.0.0.1:port, with a progress line each second."""
    connections = []
    started = last_report = time.monotonic()
    try:
        while len(connections) < count:
            first = len(connections)
            for _ in range(min(OPEN_BATCH, count - first)):
                connections.append(IdleConnection(port))
            deadline = time.monotonic() + 10
            for connection in connections[first:]:
                connection.finish_handshake(deadline)
            now = time.monotonic()
            if now - last_report >= 1 and len(connections) < count:
                log(f"      {label}: {len(connections):,}/{count:,} connections open ({now - started:.1f} s)")
                last_report = now
    except (OSError, RuntimeError) as error:
        close_all(connections)
        raise RuntimeError(f"{label}: connection {len(connections):,} of {count:,} failed: {error}") from None
    return connections, time.monotonic() - started


def close_all(connections):
    for connection in connections:
        connection.close()


def wait_readable(connections, timeout):
    """Waits up to timeout seconds for one of the connections to have input (poll, not select:
    the descriptors go past FD_SETSIZE)."""
    poller = select.poll()
    for connection in connections:
        poller.register(connection.sock, select.POLLIN)
    poller.poll(timeout * 1000)


def sample_states(connections, sample):
    """Polls up to `sample` connections spread over the list: how many are open, got a GOAWAY or
    were closed by the server."""
    step = max(1, len(connections) // sample)
    picked = connections[::step][:sample]
    wait_readable(picked, 0.1)
    for connection in picked:
        connection.poll()
    closed = sum(c.closed for c in picked)
    away = sum(c.goaway and not c.closed for c in picked)
    return {"sampled": len(picked), "open": len(picked) - closed - away, "goaway": away, "closed": closed}


# --- the server's processes -----------------------------------------------------------------

def memory_kib(pids):
    """PSS and RSS in KiB summed over the processes, from /proc/PID/smaps_rollup."""
    totals = {"pss": 0, "rss": 0}
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name in ("Pss", "Rss"):
                totals[name.lower()] += int(value.split()[0])
    return totals


def settled_memory(server, what):
    """The server's memory once its PSS has changed by at most 0.5% (64 KiB at least) over one
    second, polled every 0.2 s for at most 20 s."""
    started = time.monotonic()
    samples = []
    while True:
        now = time.monotonic()
        samples.append((now, memory_kib(server.pids())))
        recent = [s["pss"] for t, s in samples if t >= now - 1.0]
        if now - started >= 1.0 and max(recent) - min(recent) <= max(64, recent[-1] * 0.005):
            return dict(samples[-1][1], settled_s=round(now - started, 1))
        if now - started >= 20:
            log(f"      warning: {server.candidate.name}: PSS {what} still moving after 20 s "
                f"({min(recent):,}-{max(recent):,} KiB over the last second); using the last value")
            return dict(samples[-1][1], settled_s=None)
        time.sleep(0.2)


def socket_count(pid):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    count = 0
    for fd in fds:
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def open_file_limit(pid):
    """(soft, hard) RLIMIT_NOFILE of a process, from /proc/PID/limits."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    return None, None


@contextmanager
def inherited_open_file_limit(soft):
    """Lowers this script's soft RLIMIT_NOFILE while a server is started (children inherit it),
    so that the server shows whether it raises its own."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, before[0]), before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


# --- 1. syscalls per RPC ----------------------------------------------------------------------

def parse_strace_summary(text):
    """{syscall: (calls, errors)} from `strace -c`'s table."""
    counts = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) not in (5, 6) or fields[-1] == "total" or not fields[3].isdigit():
            continue
        try:
            float(fields[0])
        except ValueError:
            continue
        counts[fields[-1]] = (int(fields[3]), int(fields[4]) if len(fields) == 6 else 0)
    return counts


def start_strace(pids, summary_path):
    """strace -c -f on every process of the server; returns once every thread is traced."""
    command = ["strace", "-c", "-f", "-q", "-o", str(summary_path)]
    for pid in pids:
        command += ["-p", str(pid)]
    tracer = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    tids = [Path(f"/proc/{pid}/task/{tid}") for pid in pids for tid in os.listdir(f"/proc/{pid}/task")]
    deadline = time.monotonic() + 10
    while True:
        if tracer.poll() is not None:
            raise RuntimeError(strace_failure(tracer.stderr.read()))
        untraced = [t for t in tids if t.exists() and f"TracerPid:\t{tracer.pid}\n" not in (t / "status").read_text()]
        if not untraced:
            return tracer, len(tids)
        if time.monotonic() >= deadline:
            stop_strace(tracer)
            raise RuntimeError(f"strace did not attach to {len(untraced)} of {len(tids)} server threads "
                               f"within 10 s: {tracer.stderr.read().strip()}")
        time.sleep(0.05)


def strace_failure(stderr):
    if "Operation not permitted" in stderr:
        return ("strace may not attach to the server (ptrace not permitted: " + stderr.strip() + "). "
                "Run as root or with CAP_SYS_PTRACE (docker run --cap-add SYS_PTRACE), or allow "
                "attaching to non-children with `sysctl kernel.yama.ptrace_scope=0`.")
    return f"strace exited at once: {stderr.strip()}"


def stop_strace(tracer):
    tracer.send_signal(signal.SIGINT)
    try:
        tracer.wait(timeout=30)
    except subprocess.TimeoutExpired:
        tracer.kill()
        tracer.wait()
        raise RuntimeError("strace did not detach within 30 s of SIGINT; killed it") from None


def measure_syscalls(candidate, settings, log_file):
    with Server(candidate, settings, log_file) as server:
        untraced = run_generator(server, settings, settings.concurrency, 0, settings.warmup)
        pids = server.pids()
        with tempfile.TemporaryDirectory() as scratch:
            summary_path = Path(scratch) / "strace.txt"
            tracer, threads = start_strace(pids, summary_path)
            try:
                traced = run_generator(server, settings, settings.concurrency, 0, settings.trace_duration)
            finally:
                stop_strace(tracer)
            summary = summary_path.read_text() if summary_path.exists() else ""
    counts = parse_strace_summary(summary)
    if not counts:
        raise RuntimeError(f"strace's summary has no rows (it did not trace the server?): {summary.strip()!r}")
    rpcs = traced["ok_all_phases"]
    if rpcs < MIN_TRACED_RPCS:
        raise RuntimeError(f"only {rpcs} RPCs ended OK while traced (at least {MIN_TRACED_RPCS} "
                           "wanted): raise --trace-duration")
    other_load = max(untraced["other_load"], traced["other_load"])
    if other_load > DISTURBED_LOAD:
        log(f"      warning: {other_load:.0%} of a pinned core went to other processes: the "
            "throughputs are low, the counts per RPC still hold")
    per_kind = {kind: 0 for kind in SYSCALL_KINDS}
    per_kind["other"] = 0
    for name, (calls, _) in counts.items():
        kind = next((k for k, names in SYSCALL_KINDS.items() if name in names), "other")
        per_kind[kind] += calls
    total = sum(calls for calls, _ in counts.values())
    top = sorted(counts.items(), key=lambda item: -item[1][0])[:6]
    return {
        "processes": len(pids), "threads": threads, "rpcs": rpcs, "failed": traced["failed"],
        "ok_check": traced["ok_check"], "other_load": other_load,
        "untraced_rps": untraced["throughput_rps"], "traced_rps": traced["throughput_rps"],
        "total_per_rpc": total / rpcs,
        "per_rpc": {kind: calls / rpcs for kind, calls in per_kind.items()},
        "errors_per_rpc": sum(errors for _, errors in counts.values()) / rpcs,
        "top": [{"syscall": name, "per_rpc": calls / rpcs, "errors_per_rpc": errors / rpcs}
                for name, (calls, errors) in top],
        "counts": {name: {"calls": calls, "errors": errors} for name, (calls, errors) in counts.items()},
    }


# --- 2. memory per idle connection, 3. held connections ---------------------------------------

def idle_candidate(candidate):
    if candidate.kind != "gryphon":
        return candidate
    return dataclasses.replace(candidate, command=candidate.command + GRYPHON_IDLE_OVERRIDE)


def measure_idle(server, settings, count, label):
    """Memory before and after `count` idle connections; returns the numbers and the connections
    (still open: the caller closes them)."""
    run_generator(server, settings, settings.concurrency, 0, 1)
    before = settled_memory(server, "before the connections")
    sockets_before = sum(socket_count(pid) for pid in server.pids())
    connections, open_s = open_idle_connections(server.port, count, label)
    try:
        log(f"      {label}: {count:,} connections open in {open_s:.1f} s; waiting for memory to settle")
        after = settled_memory(server, "after the connections")
        held = sum(socket_count(pid) for pid in server.pids()) - sockets_before
        states = sample_states(connections, 100)
    except BaseException:
        close_all(connections)
        raise
    result = {
        "connections": count, "open_s": round(open_s, 2),
        "pss_before_kib": before["pss"], "pss_after_kib": after["pss"],
        "rss_before_kib": before["rss"], "rss_after_kib": after["rss"],
        "pss_kib_per_connection": (after["pss"] - before["pss"]) / count,
        "rss_kib_per_connection": (after["rss"] - before["rss"]) / count,
        "settled_s": after["settled_s"], "server_sockets_added": held, "sample": states,
    }
    if held < count or states["open"] < states["sampled"]:
        close_all(connections)
        raise RuntimeError(f"{label}: the server does not hold every connection: {held:,} sockets "
                           f"added for {count:,}, sample {states}")
    return result, connections


def measure_idle_memory(candidate, settings, log_file):
    with Server(idle_candidate(candidate), settings, log_file) as server:
        result, connections = measure_idle(server, settings, settings.idle, candidate.name)
        close_all(connections)
    return result


def measure_held(candidate, settings, log_file):
    """--idle-max idle connections to one native worker, started with the soft open-file limit
    of a login shell (1024) to see whether gryphon raises it."""
    server = Server(idle_candidate(candidate), settings, log_file)
    with inherited_open_file_limit(1024):
        server.start()
    try:
        workers = [pid for pid in server.pids() if pid != server.process.pid]
        if len(workers) != 1:
            raise RuntimeError(f"expected one worker under the master, found {workers}")
        worker = workers[0]
        soft, hard = open_file_limit(worker)
        log(f"      worker {worker}: open-file limit soft {soft}, hard {hard} (started with soft 1024)")
        if soft != "unlimited" and int(soft) < settings.idle_max + 64:
            raise RuntimeError(f"the worker's open-file limit ({soft}) cannot hold {settings.idle_max:,} "
                               "connections: raise the hard limit (ulimit -Hn) before starting")
        result, connections = measure_idle(server, settings, settings.idle_max, candidate.name)
        try:
            rpc = run_generator(server, settings, 1, 0, 1)
            result["rpc_after"] = {"ok": rpc["ok"], "failed": rpc["failed"], "rps": rpc["throughput_rps"]}
            result["worker_sockets"] = socket_count(worker)
            result["sample_after_rpc"] = sample_states(connections, 100)
        finally:
            close_all(connections)
        result.update(worker_nofile_soft=soft, worker_nofile_hard=hard)
        if rpc["ok"] == 0 or rpc["failed"]:
            raise RuntimeError(f"with {settings.idle_max:,} idle connections an RPC failed: {result['rpc_after']}")
        if result["sample_after_rpc"]["open"] < result["sample_after_rpc"]["sampled"]:
            raise RuntimeError(f"idle connections were dropped during the RPC: {result['sample_after_rpc']}")
        return result
    finally:
        server.stop()


def measure_rotation(candidate, settings, log_file, count=10, limit=25):
    """With the candidate's unchanged command: when idle connections get a GOAWAY and are closed."""
    with Server(candidate, settings, log_file) as server:
        started = time.monotonic()
        connections, _ = open_idle_connections(server.port, count, candidate.name)
        first_goaway = all_closed = None
        try:
            while time.monotonic() - started < limit:
                wait_readable([c for c in connections if not c.closed], 0.2)
                for connection in connections:
                    connection.poll()
                elapsed = round(time.monotonic() - started, 1)
                if first_goaway is None and any(c.goaway for c in connections):
                    first_goaway = elapsed
                if all(c.closed for c in connections):
                    all_closed = elapsed
                    break
            closed = sum(c.closed for c in connections)
        finally:
            close_all(connections)
    return {"connections": count, "watched_s": limit, "first_goaway_s": first_goaway,
            "all_closed_s": all_closed, "closed": closed}


# --- report -----------------------------------------------------------------------------------

def format_rows(headers, rows, markdown):
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                     for line in [headers] + rows)


SYSCALL_HEADERS = ["candidate", "RPCs traced", "RPC/s traced", "RPC/s untraced", "syscalls/RPC",
                   "write", "read", "epoll_wait", "futex", "other", "errors/RPC", "most made (per RPC)"]
IDLE_HEADERS = ["candidate", "connections", "PSS before MiB", "PSS after MiB", "KiB/conn (PSS)",
                "KiB/conn (RSS)", "socket fds added", "opened in s"]


def syscall_rows(results):
    rows = []
    for name, r in results.items():
        k = r["per_rpc"]
        top = ", ".join(f"{t['syscall']} {t['per_rpc']:.2f}" for t in r["top"][:4])
        rows.append([name, f"{r['rpcs']:,}", f"{r['traced_rps']:,.0f}", f"{r['untraced_rps']:,.0f}",
                     f"{r['total_per_rpc']:.2f}", f"{k['write']:.2f}", f"{k['read']:.2f}",
                     f"{k['epoll_wait']:.2f}", f"{k['futex']:.2f}", f"{k['other']:.2f}",
                     f"{r['errors_per_rpc']:.2f}", top])
    return rows


def idle_rows(results):
    return [[name, f"{r['connections']:,}", f"{r['pss_before_kib'] / 1024:.1f}", f"{r['pss_after_kib'] / 1024:.1f}",
             f"{r['pss_kib_per_connection']:.1f}", f"{r['rss_kib_per_connection']:.1f}",
             f"{r['server_sockets_added']:,}", f"{r['open_s']:.1f}"] for name, r in results.items()]


def held_lines(held):
    if not held:
        return []
    sample = held["sample_after_rpc"]
    return [
        f"{HELD_CANDIDATE} holding {held['connections']:,} idle connections (opened in "
        f"{held['open_s']:.1f} s): the worker has {held['worker_sockets']:,} sockets open, "
        f"{sample['open']} of {sample['sampled']} sampled connections still open after the RPC "
        f"check; a 1-connection gryphon-bench run alongside: {held['rpc_after']['ok']:,} OK, "
        f"{held['rpc_after']['failed']} failed ({held['rpc_after']['rps']:,.0f} RPC/s).",
        f"PSS {held['pss_before_kib'] / 1024:.1f} MiB before, {held['pss_after_kib'] / 1024:.1f} MiB "
        f"with them: {held['pss_kib_per_connection']:.1f} KiB per connection (RSS "
        f"{held['rss_kib_per_connection']:.1f}).",
        f"The worker's RLIMIT_NOFILE: soft {held['worker_nofile_soft']}, hard "
        f"{held['worker_nofile_hard']}, with the server started from a soft limit of 1024: "
        + ("gryphon raised its soft limit to the hard one at start (raise_open_file_limit in "
           "framework/os/process.cc, called by the master; the workers inherit it)."
           if held["worker_nofile_soft"] == held["worker_nofile_hard"] else
           "gryphon did not raise its soft limit to the hard one."),
    ]


def rotation_lines(rotation):
    lines = []
    for name, r in rotation.items():
        goaway = f"a GOAWAY after {r['first_goaway_s']} s" if r["first_goaway_s"] is not None else "no GOAWAY"
        closed = (f"all closed by the server after {r['all_closed_s']} s" if r["all_closed_s"] is not None
                  else f"{r['closed']} of {r['connections']} closed within {r['watched_s']} s")
        lines.append(f"{name} with its compare.py command: {r['connections']} idle connections got "
                     f"{goaway}, {closed}.")
    return lines


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=HERE.parent / "build",
                        help="build directory holding bench/ (default: %(default)s)")
    parser.add_argument("--only", default="",
                        help="comma-separated candidates (default: " + ",".join(FOOTPRINT_CANDIDATES) + ")")
    parser.add_argument("--warmup", type=float, default=2,
                        help="seconds of untraced load before strace attaches (default: %(default)s)")
    parser.add_argument("--trace-duration", type=float, default=3,
                        help="seconds of load while strace counts (default: %(default)s)")
    parser.add_argument("--idle", type=int, default=1000,
                        help="idle connections per candidate for the memory per connection (default: %(default)s)")
    parser.add_argument("--idle-max", type=int, default=10000,
                        help=f"idle connections held by {HELD_CANDIDATE}'s one worker; 0 skips it "
                             "(default: %(default)s)")
    parser.add_argument("--no-rotation-check", action="store_true",
                        help="skip watching what gryphon's default --max-connection-age does to idle connections")
    add_pinning_args(parser)
    parser.add_argument("--out", type=Path, default=HERE / "results",
                        help="where footprint.md and footprint.json go (default: %(default)s)")
    args = parser.parse_args()
    if args.warmup < 0 or args.trace_duration <= 0 or args.idle < 1 or args.idle_max < 0:
        parser.error("--trace-duration and --idle must be positive, --warmup and --idle-max not negative")
    by_name = {c.name: c for c in RAW_CANDIDATES + REFERENCE_CANDIDATES + GRYPHON_CANDIDATES}
    missing = [n for n in FOOTPRINT_CANDIDATES if n not in by_name]
    if missing:
        parser.error(f"compare.py no longer defines {', '.join(missing)}: update FOOTPRINT_CANDIDATES")
    wanted = args.only.split(",") if args.only else FOOTPRINT_CANDIDATES
    unknown = [n for n in wanted if n not in FOOTPRINT_CANDIDATES]
    if unknown:
        parser.error(f"--only: unknown candidate(s) {', '.join(unknown)}; choose from {', '.join(FOOTPRINT_CANDIDATES)}")
    args.build_dir = args.build_dir.resolve()
    args.bench_dir = args.build_dir / "bench"
    args.generator = args.bench_dir / "gryphon-bench"
    args.candidates, args.skipped = [], []
    for name in wanted:
        candidate = by_name[name]
        needs = candidate.needs.format(bench=args.bench_dir)
        if needs and not Path(needs).exists():
            log(f"warning: leaving out {name}: {needs} is missing (scripts/install-deps.sh installs what the bench needs)")
            args.skipped.append(f"Left out: {name}, {needs} is missing.")
        else:
            args.candidates.append(candidate)
    for binary in (args.generator, args.bench_dir / "bench_raw_async", args.bench_dir / "bench_gryphon_echo"):
        if not binary.exists():
            parser.error(f"{binary} does not exist: build the bench targets first "
                         f"(cmake --build {args.build_dir} --target {' '.join(BENCH_TARGETS)})")
    for tool, package in (("taskset", "util-linux"), ("strace", "strace")):
        if not shutil.which(tool):
            parser.error(f"{tool} is not installed (apt-get install {package})")
    read_pinning_args(parser, args)
    # The rest of what compare.py's Server and run_generator read from its settings.
    args.docroot = Path(tempfile.gettempdir())  # only nghttpd's command uses it
    args.concurrency, args.connections, args.scenario = 64, 4, "string_100B"
    return args


def raise_open_file_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        sys.exit(f"footprint.py needs {needed:,} open files but the hard limit is {hard:,}: "
                 f"raise it (ulimit -Hn {needed}, or LimitNOFILE=) or lower --idle-max")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_phase(label, candidates, measure, errors):
    results = {}
    for step, candidate in enumerate(candidates, 1):
        log(f"[{label} {step}/{len(candidates)}] {candidate.name}")
        try:
            results[candidate.name] = measure(candidate)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
            errors.append(f"{candidate.name} {label}: {error}")
            log(f"[{label} {step}/{len(candidates)}] {candidate.name}: FAILED: {error}")
    return results


def main():
    settings = parse_args()
    candidates = settings.candidates
    held_candidates = [c for c in candidates if c.name == HELD_CANDIDATE and settings.idle_max > 0]
    rotation_candidates = [] if settings.no_rotation_check else [c for c in candidates if c.kind == "gryphon"]
    raise_open_file_limit(max(settings.idle, settings.idle_max) + 256)
    settings.out.mkdir(parents=True, exist_ok=True)
    server_log = tempfile.NamedTemporaryFile("w", prefix="footprint-servers-", suffix=".log", delete=False)
    estimate = (len(candidates) * (settings.warmup + settings.trace_duration + 4 + 5)
                + len(held_candidates) * 15 + len(rotation_candidates) * 20)
    log(f"{len(candidates)} candidates: syscalls per RPC, memory per idle connection"
        + (f", {settings.idle_max:,} connections held" if held_candidates else "")
        + (", gryphon's connection rotation" if rotation_candidates else "")
        + f"; about {estimate / 60:.1f} min")
    started = time.monotonic()
    errors = []
    syscalls = run_phase("syscalls", candidates, lambda c: measure_syscalls(c, settings, server_log), errors)
    for name, r in syscalls.items():
        log(f"      {name}: {r['total_per_rpc']:.2f} syscalls/RPC over {r['rpcs']:,} RPCs "
            f"({r['traced_rps']:,.0f} RPC/s traced, {r['untraced_rps']:,.0f} untraced)")
    idle = run_phase("idle", candidates, lambda c: measure_idle_memory(c, settings, server_log), errors)
    for name, r in idle.items():
        log(f"      {name}: {r['pss_kib_per_connection']:.1f} KiB PSS per idle connection")
    held = run_phase("held", held_candidates, lambda c: measure_held(c, settings, server_log), errors)
    rotation = run_phase("rotation", rotation_candidates,
                         lambda c: measure_rotation(c, settings, server_log), errors)
    server_log.close()
    elapsed = time.monotonic() - started

    command = "python3 bench/footprint.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    setting = (f"server on core {settings.server_cpus}, gryphon-bench on core {settings.generator_cpus} "
               f"({settings.scenario}, {settings.concurrency} in flight over {settings.connections} "
               f"connections); {settings.warmup:g} s untraced, then {settings.trace_duration:g} s under "
               f"`strace -c -f`; {settings.idle:,} idle connections per candidate")
    notes = [
        "Syscalls per RPC: every syscall of every thread of the server's processes (strace -c -f "
        "attached to each process, all threads checked traced) while gryphon-bench ran, divided by "
        "the RPCs that ended OK. write: write, writev, sendmsg, sendto; read: read, readv, recvmsg, "
        "recvfrom; epoll_wait: epoll_wait, epoll_pwait; errors: calls that failed (mostly EAGAIN). "
        "strace stops the server at every syscall, so it runs at the traced rate: a server that "
        "batches (reads several requests, writes several answers at once) batches more when slow, "
        "so these counts are a lower bound for batching servers at full speed.",
        "Memory per idle connection: growth of the PSS (proportional set size, "
        "/proc/PID/smaps_rollup, summed over the server's processes: gryphon's master holds no "
        "connections and its pages shared with the worker count half) from after a 1 s warm-up "
        "burst to after the connections were open and the PSS had settled (≤0.5% change over 1 s), "
        "divided by their count; RSS likewise for comparison. Each connection completed the "
        "HTTP/2 handshake (preface and SETTINGS, the server's SETTINGS, SETTINGS ack) and stayed "
        "silent; `socket fds added` is the growth of the server's socket descriptors (gryphon's "
        "gRPC transport holds two per connection: a dup of each connection's fd is watched for "
        "HUP to count open connections). Kernel socket buffers are not in either figure.",
        "gryphon's candidates run with `" + " ".join(GRYPHON_IDLE_OVERRIDE) + "` added in the idle "
        "and held phases: its default --max-connection-age of 10 s would close the connections "
        "during the measurement (see below). The default --idle-timeout (300 s) does not act "
        "within it.",
    ] + settings.skipped
    if syscalls:
        notes.append("Most of a pinned core used by other processes during a syscall run: "
                     f"{max(r['other_load'] for r in syscalls.values()):.0%} (it lowers the "
                     "throughputs, not the counts per RPC).")
    text = [f"\n{setting}\n", format_rows(SYSCALL_HEADERS, syscall_rows(syscalls), False), "",
            format_rows(IDLE_HEADERS, idle_rows(idle), False)]
    text += [""] + held_lines(held.get(HELD_CANDIDATE)) + rotation_lines(rotation)
    if errors:
        text += ["", "Errors:"] + [f"  {e}" for e in errors]
    print("\n".join(text))

    markdown = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} on {machine_description()} in {elapsed / 60:.1f} min.",
        "", f"Setting: {setting}.", "", "Syscalls per RPC (by kind, per RPC):", "",
        format_rows(SYSCALL_HEADERS, syscall_rows(syscalls), True), "",
        "Memory per idle HTTP/2 connection:", "", format_rows(IDLE_HEADERS, idle_rows(idle), True), "",
    ]
    extra = held_lines(held.get(HELD_CANDIDATE)) + rotation_lines(rotation)
    markdown += [f"- {line}" for line in extra + notes]
    if errors:
        markdown += ["", "Errors:", ""] + [f"- {e}" for e in errors]
    markdown += ["", f"Regenerate with `{command.strip()}`."]
    (settings.out / "footprint.md").write_text("\n".join(markdown) + "\n")
    (settings.out / "footprint.json").write_text(json.dumps({
        "setting": setting, "machine": machine_description(), "command": command.strip(),
        "elapsed_s": round(elapsed, 1), "syscalls": syscalls, "idle": idle,
        "held": held.get(HELD_CANDIDATE), "rotation": rotation, "errors": errors}, indent=1))
    if errors:
        log(f"server logs kept in {server_log.name}")
    else:
        Path(server_log.name).unlink()
    log(f"\nwrote {settings.out / 'footprint.md'} and footprint.json in {elapsed / 60:.1f} min")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
