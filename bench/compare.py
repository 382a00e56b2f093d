#!/usr/bin/env python3
"""Compares unary-RPC servers on this machine: raw gRPC C++ baselines, grpc-go, gryphon
candidates and the HTTP/2 ceiling.

Each candidate is a command that starts a server. compare.py pins the server to one core and the
load generator to another, runs every candidate interleaved (A B C A B C ...) for --reps
repetitions with gryphon-bench at --concurrency RPCs in flight, then runs h2load once per
candidate at the same load, then sweeps the concurrency for the latency/throughput plot. The
ceiling (nghttpd answering with a static body: HTTP/2 without gRPC) is driven by h2load in the
repetitions too, as gryphon-bench would saturate its own core first. It prints one table (medians
over the repetitions, each candidate's ratios to the fastest raw baseline, to grpc-go and to the
ceiling of the same repetition with their spread) and writes it as markdown, with a PNG plot drawn
by gnuplot and the raw numbers as JSON. See bench/README.md for the columns.

Only the Python 3 standard library is used.
"""

import argparse
import json
import os
import platform
import queue
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request
import time
from dataclasses import dataclass
from pathlib import Path

from compare_report import (add_ratios, format_table, h2load_row, main_row,
                            p99_value, server_value, standing_lines, target_lines, write_plot)

HERE = Path(__file__).resolve().parent


@dataclass
class Candidate:
    """A server to benchmark.

    command: argv; "{listen}" becomes the address to listen on (127.0.0.1:0), "{bench}" the build
    directory's bench/ folder, "{build}" the build directory, "{port}" a free port compare.py
    picked and "{docroot}" a folder holding the echo reply frame at gryphon.bench.Echo/Call. The
    server must print `listening on HOST:PORT` on stdout once it accepts RPCs (unless its command
    takes "{port}": then compare.py waits until the port accepts connections) and stop cleanly on
    SIGTERM.
    kind: "raw" for the gRPC C++ baselines (the fastest raw one is the thr/cpu/p99 ratios'
    denominator), "raw-tuned" for a raw server shown for information only, "grpc-go" for the
    grpc-go reference (the "× go" denominator), "ceiling" for the HTTP/2 server that does no gRPC
    (the "× ceil" denominator), "gryphon" for gryphon servers.
    reports_ok: the server prints `ok_rpcs N` (RPCs answered OK so far) on SIGUSR1; compare.py then
    checks the server's count against the client's. Leave it False for a server that does not
    handle SIGUSR1: the signal would kill it.
    client: the load generator of the repetitions and the sweep, "gryphon-bench" or "h2load" (one
    run per repetition, no sweep).
    needs: a program (or a "{bench}" path) the candidate cannot start without; when it is missing
    the candidate is left out with a warning.
    """

    name: str
    kind: str
    command: list
    reports_ok: bool = False
    client: str = "gryphon-bench"
    needs: str = ""


RAW_CANDIDATES = [
    Candidate("raw-async-1t", "raw",
              ["{bench}/bench_raw_async", "--listen", "{listen}", "--threads", "1"], True),
    Candidate("raw-async-2t", "raw",
              ["{bench}/bench_raw_async", "--listen", "{listen}", "--threads", "2"], True),
    Candidate("raw-callback", "raw", ["{bench}/bench_raw_callback", "--listen", "{listen}"], True),
    Candidate("raw-sync", "raw", ["{bench}/bench_raw_sync", "--listen", "{listen}"], True),
    # Not a baseline for the ratios: the async server with abseil's deadlock detection off, as
    # gryphon's workers run, to show how much of gryphon's result that setting alone is worth.
    Candidate("raw-async-1t-nodd", "raw-tuned",
              ["{bench}/bench_raw_async", "--listen", "{listen}", "--threads", "1", "--no-deadlock-detection"],
              True),
]

# The references outside gRPC C++. grpc-go (Debian's 1.33) on one core: gryphon is compared
# with it in every table. The ceiling: nghttpd, nghttp2's own server, answering the same POST with
# a static file holding the echo reply's gRPC frame and a grpc-status trailer. It does no gRPC at
# all (no parsing, no handler, no per-call state), so its throughput is what HTTP/2 framing and
# HPACK allow on this core with this client. h2load drives it: gryphon-bench, itself a gRPC C++
# client, saturates its core at a fraction of nghttpd's rate.
REFERENCE_CANDIDATES = [
    Candidate("grpc-go", "grpc-go",
              ["env", "GOMAXPROCS=1", "{bench}/bench_grpc_go", "--listen", "{listen}"], True,
              needs="{bench}/bench_grpc_go"),
    Candidate("ceiling-nghttpd", "ceiling",
              ["nghttpd", "--no-tls", "--address", "127.0.0.1", "--htdocs", "{docroot}",
               "--trailer", "grpc-status: 0", "{port}"], client="h2load", needs="nghttpd"),
]

# Gryphon candidates: a gryphon master with its workers serving the same Echo service. Their log
# goes to stdout, where compare.py reads the "ready listen=HOST:PORT metrics=HOST:PORT" line; the
# server's OK count comes from the master's /metrics (grpc_server_handled_total), not SIGUSR1.
# The master and its workers are measured together: every descendant of the started process.
# "gryphon-*" run the native transport (the default), "gryphon-grpc-*" the gRPC C++ transport.
_GRYPHON = ["{bench}/bench_gryphon_echo", "--listen", "{listen}", "--log-file", "/dev/stdout",
            "--drain-delay", "0s", "--shutdown-timeout", "5s"]
_METRICS = ["--workers", "1", "--metrics-address", "127.0.0.1:0"]
_OBS = ["--access-log", "/dev/null", "--access-log-format", "json"]


def _gryphon_candidates(prefix, transport):
    flag = ["--transport", transport]
    return [
        # 1 worker, inline handler, no interceptors at all: the runtime's own cost.
        Candidate(f"{prefix}-1w", "gryphon",
                  _GRYPHON + flag + ["--workers", "1", "--metrics-address", "", "--request-id", "off"]),
        # 1 worker, inline handler, metrics on, OK counts checked from /metrics.
        Candidate(f"{prefix}-1w-metrics", "gryphon", _GRYPHON + flag + _METRICS + ["--request-id", "off"],
                  True),
        # The defaults: metrics and the request id (read, made, sent back in the response headers).
        Candidate(f"{prefix}-1w-defaults", "gryphon", _GRYPHON + flag + _METRICS, True),
        # ... plus the JSON access log (to /dev/null: formatting and writes, no disk).
        Candidate(f"{prefix}-1w-obs", "gryphon", _GRYPHON + flag + _METRICS + _OBS, True),
        # The handler on the worker's pool: the path blocking handlers take (compare with raw-sync).
        Candidate(f"{prefix}-1w-pool", "gryphon",
                  ["env", "BENCH_HANDLERS=pool"] + _GRYPHON + flag + _METRICS + ["--request-id", "off"],
                  True),
        # 2 workers sharing the server core.
        Candidate(f"{prefix}-2w", "gryphon",
                  _GRYPHON + flag + ["--workers", "2", "--metrics-address", "127.0.0.1:0",
                                     "--request-id", "off"], True),
    ]


GRYPHON_CANDIDATES = _gryphon_candidates("gryphon", "native") + _gryphon_candidates("gryphon-grpc", "grpc")

# The pass at 1 RPC in flight (mean latency, the "at 1 in flight" target): the raw
# baseline, grpc-go and gryphon's defaults on both transports.
LATENCY_CANDIDATES = ["raw-async-1t", "grpc-go", "gryphon-1w-defaults", "gryphon-grpc-1w-defaults"]
LATENCY_WARMUP, LATENCY_DURATION = 1.0, 3.0

# A run during which other processes used more than this share of a pinned core is disturbed.
DISTURBED_LOAD = 0.1

ECHO_PATH = "gryphon.bench.Echo/Call"
LISTEN_LINE = re.compile(r"^listening on (\S+):(\d+)\s*$")
OK_LINE = re.compile(r"^ok_rpcs (\d+)\s*$")
GRYPHON_READY = re.compile(r"ready listen=(\S+):(\d+) metrics=(\S+) ")
GRYPHON_OK = re.compile(r'^grpc_server_handled_total\{grpc_code="OK",[^}]*\} (\S+)$', re.M)


def log(message):
    print(message, file=sys.stderr, flush=True)


def process_tree(root_pid):
    """root_pid and all its descendants, read from /proc."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    pids, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        pids.append(pid)
        pending.extend(children.get(pid, []))
    return pids


def process_cpu_seconds(pids):
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = fields[fields.rindex(")") + 2:].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def core_busy_seconds(cpus):
    """Seconds the given cores spent running tasks (user, nice, system) or stolen by the
    hypervisor, from /proc/stat; interrupt time is left out, as it is not charged to processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    wanted = {f"cpu{c}" for c in cpus}
    busy = 0.0
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] in wanted:
            user, nice, system, _idle, _iowait, _irq, _softirq, steal = map(int, fields[1:9])
            busy += (user + nice + system + steal) / ticks
    return busy


def wait_for_idle_cores(settings):
    """Waits up to --wait-idle seconds until the pinned cores are idle (other users' jobs done)."""
    if settings.wait_idle <= 0:
        return
    cores = settings.server_core_list + settings.generator_core_list
    deadline = time.monotonic() + settings.wait_idle
    while True:
        before = core_busy_seconds(cores)
        time.sleep(0.5)
        busy = (core_busy_seconds(cores) - before) / 0.5
        if busy < 0.05:
            return
        if time.monotonic() >= deadline:
            log(f"      warning: the pinned cores are still {busy:.0%} busy after waiting "
                f"{settings.wait_idle:g} s; going on")
            return


def children_cpu_seconds():
    """CPU seconds of this script's finished children (the generator, h2load) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CoreWatch:
    """Measures how much of the pinned cores went to processes other than the server and the
    client over one run: other users' jobs, which distort the numbers."""

    def __init__(self, settings, server_pids):
        self.settings = settings
        self.server_pids = server_pids
        self.start = self._sample()

    def _sample(self):
        return (time.monotonic(), core_busy_seconds(self.settings.server_core_list),
                core_busy_seconds(self.settings.generator_core_list),
                process_cpu_seconds(self.server_pids), children_cpu_seconds())

    def other_load(self):
        """Fraction of a core used by other processes on the busier of the two sides."""
        end = self._sample()
        wall = end[0] - self.start[0]
        server_side = (end[1] - self.start[1]) - (end[3] - self.start[3])
        client_side = (end[2] - self.start[2]) - (end[4] - self.start[4])
        return max(server_side / wall, client_side / wall, 0.0)


def parse_cpu_list(text):
    cpus = []
    for part in text.split(","):
        if "-" in part:
            low, high = part.split("-")
            cpus.extend(range(int(low), int(high) + 1))
        else:
            cpus.append(int(part))
    return cpus


def free_port():
    """A port nothing listens on now, for servers that cannot bind port 0 and report it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One started candidate, pinned to the server cores, its stdout read by a thread."""

    def __init__(self, candidate, settings, log_file):
        self.candidate = candidate
        self.settings = settings
        self.log_file = log_file
        self.lines = queue.Queue()
        self.process = None
        self.port = None
        self.final_ok = None
        self.metrics = "off"

    def start(self):
        wait_for_idle_cores(self.settings)
        picked = "{port}" in self.candidate.command
        substitutions = dict(listen="127.0.0.1:0", bench=str(self.settings.bench_dir),
                             build=str(self.settings.build_dir), docroot=str(self.settings.docroot),
                             port=str(free_port() if picked else 0))
        command = [part.format(**substitutions) for part in self.candidate.command]
        self.process = subprocess.Popen(
            ["taskset", "-c", self.settings.server_cpus] + command, stdout=subprocess.PIPE,
            stderr=self.log_file, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        deadline = time.monotonic() + 20
        if picked:
            # A server that prints no `listening on` line (nghttpd): ready once it accepts.
            port = int(substitutions["port"])
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    self.port = port
                    return
                except OSError:
                    time.sleep(0.05)
            self.stop()
            raise RuntimeError(f"{self.candidate.name}: port {port} did not accept connections "
                               f"within 20 s (command: {shlex.join(command)})")
        while time.monotonic() < deadline:
            line = self._next_line(deadline - time.monotonic())
            if line is None:
                break
            match = LISTEN_LINE.match(line) or GRYPHON_READY.search(line)
            if match:
                self.port = int(match.group(2))
                self.metrics = match.group(3) if match.re is GRYPHON_READY else "off"
                return
        self.stop()
        raise RuntimeError(f"{self.candidate.name}: no 'listening on HOST:PORT' line within 20 s "
                           f"(command: {shlex.join(command)})")

    def _read_stdout(self):
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _next_line(self, timeout):
        try:
            return self.lines.get(timeout=max(timeout, 0.01))
        except queue.Empty:
            return None

    def pids(self):
        return process_tree(self.process.pid)

    def ok_rpcs(self):
        """The server's OK count, when the candidate reports it; else None."""
        if not self.candidate.reports_ok or self.process.poll() is not None:
            return None
        if self.candidate.kind == "gryphon":
            return self._gryphon_ok()
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            line = self._next_line(deadline - time.monotonic())
            if line is None:
                return None
            match = OK_LINE.match(line)
            if match:
                return int(match.group(1))
        return None

    def _gryphon_ok(self):
        """Sum of grpc_server_handled_total{grpc_code="OK"} on the master's /metrics."""
        if self.metrics == "off":
            return None
        try:
            with urllib.request.urlopen(f"http://{self.metrics}/metrics", timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return None
        return int(sum(float(value) for value in GRYPHON_OK.findall(text)))

    def stop(self):
        if self.candidate.kind == "gryphon" and self.candidate.reports_ok and self.process.poll() is None:
            self.final_ok = self._gryphon_ok()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log(f"{self.candidate.name}: did not stop within 15 s of SIGTERM; killing it")
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        while True:
            line = self._next_line(0.5)
            if line is None:
                break
            match = OK_LINE.match(line)
            if match:
                self.final_ok = int(match.group(1))
        return self.process.returncode

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def run_generator(server, settings, concurrency, warmup, duration):
    """One gryphon-bench run against a started server; returns its JSON plus checks."""
    connections = min(settings.connections, concurrency)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        json_path = handle.name
    command = ["taskset", "-c", settings.generator_cpus, str(settings.generator),
               "--target", f"127.0.0.1:{server.port}", "--concurrency", str(concurrency),
               "--connections", str(connections), "--warmup", str(warmup),
               "--duration", str(duration), "--scenario", settings.scenario,
               "--json", json_path, "--no-progress"]
    pids = server.pids()
    for pid in pids:
        command += ["--server-pid", str(pid)]
    ok_before = server.ok_rpcs()
    watch = CoreWatch(settings, pids)
    completed = subprocess.run(command, capture_output=True, text=True,
                               timeout=warmup + duration + 120)
    other_load = watch.other_load()
    ok_after = server.ok_rpcs()
    try:
        result = json.loads(Path(json_path).read_text())
    except (OSError, ValueError):
        raise RuntimeError(f"gryphon-bench produced no results: {completed.stderr.strip()}")
    finally:
        Path(json_path).unlink(missing_ok=True)
    result["exit_code"] = completed.returncode
    result["stderr"] = completed.stderr.strip()
    if ok_before is not None and ok_after is not None:
        result["server_ok"] = ok_after - ok_before
        result["ok_check"] = "ok" if ok_after - ok_before == result["ok_all_phases"] else "MISMATCH"
    else:
        result["ok_check"] = "n/a"
    result["other_load"] = other_load
    return result


H2LOAD_FINISHED = re.compile(r"finished in [\d.]+m?s, ([\d.]+) req/s")
H2LOAD_REQUESTS = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                             r"(\d+) failed, (\d+) errored, (\d+) timeout")
H2LOAD_TIME = re.compile(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)")


def to_ms(text):
    for unit, scale in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if text.endswith(unit):
            return float(text[:-len(unit)]) * scale
    return float("nan")


def run_h2load(server, settings, frame_path):
    """h2load at the same load (connections, streams per connection) after a warm-up run."""
    streams = max(1, settings.concurrency // settings.connections)
    url = f"http://127.0.0.1:{server.port}/{ECHO_PATH}"

    def h2load_command(seconds):
        return ["taskset", "-c", settings.generator_cpus, "h2load", "-c",
                str(settings.connections), "-m", str(streams), "-t", "1",
                "-D", f"{round(seconds * 1000)}ms",
                f"--data={frame_path}", "-H", "content-type: application/grpc",
                "-H", "te: trailers", url]

    if settings.warmup > 0:
        subprocess.run(h2load_command(settings.warmup), capture_output=True, timeout=600)
    pids = server.pids()
    ok_before = server.ok_rpcs()
    cpu_before = process_cpu_seconds(pids)
    h2load_cpu_before = children_cpu_seconds()
    watch = CoreWatch(settings, pids)
    started = time.monotonic()
    completed = subprocess.run(h2load_command(settings.duration), capture_output=True, text=True,
                               timeout=settings.duration + 120)
    wall = time.monotonic() - started
    other_load = watch.other_load()
    h2load_cpu = children_cpu_seconds() - h2load_cpu_before
    cpu_after = process_cpu_seconds(pids)
    ok_after = server.ok_rpcs()
    output = completed.stdout
    finished = H2LOAD_FINISHED.search(output)
    requests = H2LOAD_REQUESTS.search(output)
    timing = H2LOAD_TIME.search(output)
    if not (finished and requests and timing):
        raise RuntimeError(f"cannot parse h2load's output: {output.strip()} "
                           f"{completed.stderr.strip()}")
    done = int(requests.group(3))
    succeeded = int(requests.group(4))
    result = {
        "other_load": other_load,
        "throughput_rps": float(finished.group(1)),
        "requests": done,
        "succeeded": succeeded,
        "latency_ms": {"min": to_ms(timing.group(1)), "max": to_ms(timing.group(2)),
                       "mean": to_ms(timing.group(3))},
        # Named as in gryphon-bench's JSON, so the same ratios apply to both clients' runs.
        "server": {"cpu_us_per_rpc": (cpu_after - cpu_before) * 1e6 / max(done, 1),
                   "utilization": (cpu_after - cpu_before) / wall},
        "client": {"cpu_us_per_rpc": h2load_cpu * 1e6 / max(done, 1),
                   "utilization": h2load_cpu / wall},
    }
    # h2load counts HTTP 200 as success and never reads grpc-status; the server's own OK count
    # must cover what h2load counted (plus at most the streams still open when h2load stopped).
    if ok_before is not None and ok_after is not None:
        server_ok = ok_after - ok_before
        result["server_ok"] = server_ok
        in_flight = settings.connections * streams
        result["ok_check"] = "ok" if succeeded <= server_ok <= succeeded + in_flight else "MISMATCH"
    else:
        result["ok_check"] = "n/a"
    return result


def machine_description():
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{model}, {os.cpu_count()} cores, Linux {platform.release()}"


def add_pinning_args(parser):
    """Where the server and the load generator run: compare.py's and footprint.py's options."""
    parser.add_argument("--server-cpus", default="0", help="taskset list (default: %(default)s)")
    parser.add_argument("--generator-cpus", default="1",
                        help="taskset list (default: %(default)s)")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                        help="before each server start, wait up to this long for the pinned cores "
                             "to be idle (for shared machines; default: do not wait)")


def read_pinning_args(parser, args):
    try:
        args.server_core_list = parse_cpu_list(args.server_cpus)
        args.generator_core_list = parse_cpu_list(args.generator_cpus)
    except ValueError:
        parser.error("--server-cpus and --generator-cpus take taskset lists such as 0 or 0-1")


def rotated(items, rep):
    """The order of repetition `rep`: rotated so that no candidate always runs first (or right
    after another)."""
    start = rep % len(items) if items else 0
    return items[start:] + items[:start]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=HERE.parent / "build",
                        help="build directory holding bench/ (default: %(default)s)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="RPCs in flight (default: %(default)s)")
    parser.add_argument("--connections", type=int, default=4,
                        help="TCP connections (default: %(default)s)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=5,
                        help="measured seconds per run (default: %(default)s)")
    parser.add_argument("--scenario", default="string_100B",
                        choices=["string_100B", "string_1kB", "complex_proto"])
    parser.add_argument("--sweep", default="1,4,16,64,256",
                        help="concurrency levels for the plot, or 'none' (default: %(default)s)")
    parser.add_argument("--sweep-duration", type=float, default=2,
                        help="measured seconds per sweep point (default: %(default)s)")
    parser.add_argument("--h2load-reps", type=int, default=3,
                        help="interleaved repetitions of the h2load pass (default: %(default)s)")
    parser.add_argument("--latency-reps", type=int, default=3,
                        help="interleaved repetitions of the pass at 1 RPC in flight over 1 "
                             "connection, for " + ", ".join(LATENCY_CANDIDATES) + " (default: %(default)s; 0 skips it)")
    parser.add_argument("--no-h2load", action="store_true",
                        help="skip the h2load runs (and so the ceiling, which only h2load drives)")
    parser.add_argument("--rerun-disturbed", type=int, default=0, metavar="N",
                        help="rerun a measured run up to N times while other processes take "
                             "over a tenth of a pinned core (default: %(default)s)")
    add_pinning_args(parser)
    parser.add_argument("--only", default="",
                        help="comma-separated candidate names to run (default: all)")
    parser.add_argument("--candidate", action="append", default=[], metavar="NAME=COMMAND",
                        help="add a gryphon candidate; COMMAND may use {listen}, {build}, {bench}")
    parser.add_argument("--out", type=Path, default=HERE / "results",
                        help="where compare.md, the plot and runs.json go (default: %(default)s)")
    args = parser.parse_args()
    if args.reps < 1 or args.concurrency < 1 or args.connections < 1:
        parser.error("--reps, --concurrency and --connections must be at least 1")
    if args.duration <= 0 or args.warmup < 0 or args.sweep_duration <= 0:
        parser.error("--duration and --sweep-duration must be positive, --warmup not negative")
    args.bench_dir = args.build_dir / "bench"
    args.generator = args.bench_dir / "gryphon-bench"
    build_benchmark_targets(args.build_dir)
    read_pinning_args(parser, args)
    if args.sweep == "none":
        args.sweep = []
    else:
        try:
            args.sweep = [int(level) for level in args.sweep.split(",")]
        except ValueError:
            parser.error("--sweep: expected comma-separated integers or 'none'")
    candidates = RAW_CANDIDATES + REFERENCE_CANDIDATES + GRYPHON_CANDIDATES
    for text in args.candidate:
        name, separator, command = text.partition("=")
        if not separator or not name or not command.strip():
            parser.error(f"--candidate: expected NAME=COMMAND, got {text!r}")
        candidates.append(Candidate(name, "gryphon", shlex.split(command)))
    if args.only:
        wanted = args.only.split(",")
        unknown = [n for n in wanted if n not in {c.name for c in candidates}]
        if unknown:
            parser.error(f"--only: unknown candidate(s) {', '.join(unknown)}")
        candidates = [c for c in candidates if c.name in wanted]
    args.skipped = []
    for candidate in list(candidates):
        needs = candidate.needs.format(bench=args.bench_dir)
        why = None
        if needs and not (Path(needs).exists() if "/" in needs else shutil.which(needs)):
            why = f"{needs} is missing (scripts/install-deps.sh installs what the bench needs)"
        elif candidate.client == "h2load" and args.no_h2load:
            why = "--no-h2load, and only h2load drives it"
        if why:
            log(f"warning: leaving out {candidate.name}: {why}")
            args.skipped.append(f"Left out: {candidate.name}, {why}.")
            candidates.remove(candidate)
    args.candidates = candidates
    if not args.generator.exists():
        parser.error(f"--build-dir: {args.generator} does not exist; build the bench targets first")
    for tool in ("taskset",) + (() if args.no_h2load else ("h2load",)):
        if not shutil.which(tool):
            parser.error(f"{tool} is not installed")
    return args


BENCH_TARGETS = ["gryphon-bench", "bench_raw_async", "bench_raw_callback", "bench_raw_sync", "bench_grpc_go",
                 "bench_gryphon_echo", "bench_metrics_scrape"]


def build_benchmark_targets(build_dir):
    """Configures (if needed) and builds the benchmark's binaries, so one command runs it all."""
    if not (build_dir / "CMakeCache.txt").exists():
        log(f"configuring {build_dir} (Release-like RelWithDebInfo)")
        subprocess.run(["cmake", "-S", str(HERE.parent), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
                       check=True, stdout=subprocess.DEVNULL)
    log("building " + ", ".join(BENCH_TARGETS))
    subprocess.run(["cmake", "--build", str(build_dir), "-j", str(os.cpu_count() or 2), "--target"] + BENCH_TARGETS,
                   check=True, stdout=subprocess.DEVNULL)


def main():
    settings = parse_args()
    candidates = settings.candidates
    settings.out.mkdir(parents=True, exist_ok=True)
    server_log = open(settings.out / "servers.log", "w")
    load = os.getloadavg()[0]
    if load > 0.5:
        log(f"warning: load average {load:.2f} before the start: other jobs share these cores "
            "and will distort the numbers")

    run_seconds = settings.warmup + settings.duration + 1
    total_runs = settings.reps * len(candidates)
    estimate = total_runs * run_seconds
    if not settings.no_h2load:
        estimate += settings.h2load_reps * len(candidates) * (settings.warmup + settings.duration + 1.5)
    latency_candidates = [c for c in candidates if c.name in LATENCY_CANDIDATES]
    estimate += settings.latency_reps * len(latency_candidates) * (LATENCY_WARMUP + LATENCY_DURATION + 1.5)
    swept = [c for c in candidates if c.client == "gryphon-bench"]
    estimate += len(swept) * len(settings.sweep) * (settings.sweep_duration + 1.5)
    log(f"{len(candidates)} candidates × {settings.reps} reps at concurrency "
        f"{settings.concurrency} over {settings.connections} connections; about "
        f"{estimate / 60:.1f} min")
    started = time.monotonic()

    # The request frame for h2load, which is also the ceiling's answer: request and response
    # share field numbers, so the echo servers' reply frame has the request frame's size.
    settings.docroot = Path(tempfile.mkdtemp())
    frame_path = settings.docroot / ECHO_PATH
    frame_path.parent.mkdir(parents=True)
    subprocess.run([str(settings.generator), "--scenario", settings.scenario,
                    "--write-frame", str(frame_path)], check=True)

    runs_by_candidate = {c.name: [] for c in candidates}
    errors = []
    step = 0
    for rep in range(settings.reps):
        for candidate in rotated(candidates, rep):
            step += 1
            try:
                for attempt in range(settings.rerun_disturbed + 1):
                    if attempt > 0:
                        log(f"      rerunning: {result['other_load']:.0%} of a core went to "
                            "other processes")
                    with Server(candidate, settings, server_log) as server:
                        if candidate.client == "h2load":
                            result = run_h2load(server, settings, frame_path)
                        else:
                            result = run_generator(server, settings, settings.concurrency,
                                                   settings.warmup, settings.duration)
                    if result["other_load"] <= DISTURBED_LOAD:
                        break
                result["rep"] = rep
                runs_by_candidate[candidate.name].append(result)
                elapsed = time.monotonic() - started
                p99 = p99_value(result)
                log(f"[{step:3}/{total_runs}] rep {rep + 1}/{settings.reps} {candidate.name:16} "
                    f"{result['throughput_rps']:>10,.0f} RPC/s  p99 "
                    + (f"{p99 / 1e3:6.3f} ms" if p99 is not None else "   n/a   ") + "  server "
                    f"{server_value(result, 'utilization'):4.0%} {candidate.client} "
                    f"{result['client']['utilization']:4.0%}  "
                    f"failed {result.get('failed', result.get('requests', 0) - result.get('succeeded', 0))}  "
                    f"({elapsed:.0f} s)")
                if result["other_load"] > DISTURBED_LOAD:
                    log(f"      warning: {result['other_load']:.0%} of a core used by other "
                        "processes on the pinned cores during this run")
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                errors.append(f"{candidate.name} rep {rep + 1}: {error}")
                log(f"[{step:3}/{total_runs}] {candidate.name}: FAILED: {error}")

    h2load_runs = {c.name: [] for c in candidates}
    for rep in range(0 if settings.no_h2load else settings.h2load_reps):
        for candidate in rotated(candidates, rep):
            try:
                with Server(candidate, settings, server_log) as server:
                    result = run_h2load(server, settings, frame_path)
                result["rep"] = rep
                h2load_runs[candidate.name].append(result)
                log(f"[h2load] rep {rep + 1}/{settings.h2load_reps} {candidate.name:24} "
                    f"{result['throughput_rps']:>10,.0f} RPC/s  server "
                    f"{server_value(result, 'utilization'):4.0%} h2load "
                    f"{result['client']['utilization']:4.0%}  server OK check {result['ok_check']}")
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                errors.append(f"{candidate.name} h2load rep {rep + 1}: {error}")
                log(f"[h2load] {candidate.name}: FAILED: {error}")
    shutil.rmtree(settings.docroot)

    sweeps = {}
    for candidate in swept:
        if not settings.sweep:
            break
        try:
            with Server(candidate, settings, server_log) as server:
                points = []
                for level in settings.sweep:
                    point = run_generator(server, settings, level, 1, settings.sweep_duration)
                    points.append(point)
                sweeps[candidate.name] = points
            log(f"[sweep] {candidate.name:16} " + "  ".join(
                f"c={p['concurrency']}: {p['throughput_rps'] / 1e3:.1f}k/"
                f"{p['latency_us']['p99'] / 1e3:.2f}ms" for p in points))
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            errors.append(f"{candidate.name} sweep: {error}")
            log(f"[sweep] {candidate.name}: FAILED: {error}")
    latency_runs = {c.name: [] for c in latency_candidates}
    for rep in range(settings.latency_reps):
        for candidate in rotated(latency_candidates, rep):
            try:
                with Server(candidate, settings, server_log) as server:
                    result = run_generator(server, settings, 1, LATENCY_WARMUP, LATENCY_DURATION)
                result["rep"] = rep
                latency_runs[candidate.name].append(result)
                log(f"[1 in flight] rep {rep + 1}/{settings.latency_reps} {candidate.name:24} mean "
                    f"{result['latency_us']['mean']:7.1f} us  p99 {result['latency_us']['p99']:7.1f} us")
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                errors.append(f"{candidate.name} 1-in-flight rep {rep + 1}: {error}")
                log(f"[1 in flight] {candidate.name}: FAILED: {error}")
    server_log.close()
    if (settings.out / "servers.log").stat().st_size == 0:
        (settings.out / "servers.log").unlink()

    rows_by_candidate = {
        c.name: (h2load_row if c.client == "h2load" else main_row)(c, runs_by_candidate[c.name])
        for c in candidates if runs_by_candidate[c.name]}
    chosen = add_ratios(rows_by_candidate, runs_by_candidate, candidates)
    fastest = chosen.get("raw")
    rows = [rows_by_candidate[c.name] for c in candidates if c.name in rows_by_candidate]
    h2_rows_by_candidate = {c.name: h2load_row(c, h2load_runs[c.name])
                            for c in candidates if h2load_runs[c.name]}
    h2_chosen = add_ratios(h2_rows_by_candidate, h2load_runs, candidates)
    h2_rows = list(h2_rows_by_candidate.values())
    all_rows = rows + h2_rows

    elapsed = time.monotonic() - started
    other_load = max((r["other_load"] for runs in runs_by_candidate.values() for r in runs),
                     default=0.0)
    settings_line = (f"{settings.scenario}, closed loop, {settings.concurrency} in flight over "
                     f"{settings.connections} connections, {settings.reps} interleaved reps of "
                     f"{settings.warmup:g} s warm-up + {settings.duration:g} s; server on core "
                     f"{settings.server_cpus}, generator on core {settings.generator_cpus}")
    notes = [
        f"Ratios (thr ×, cpu ×, p99 ×) are to the fastest raw baseline, {fastest}, `× go` is "
        "throughput over grpc-go's and `× ceil` over the HTTP/2 ceiling's, all paired by "
        "repetition: median (min–max); the h2load pass's rows are compared with the same "
        "servers under h2load.",
        "The ceiling (nghttpd with a static body: HTTP/2 and HPACK, no gRPC) is always driven by "
        "h2load, also in the repetitions, where its row's ratios compare h2load's runs with "
        "gryphon-bench's; the h2load pass compares it with the others under the same client.",
        "`!` marks a server core under 95% busy or a generator core over 85% busy: such a row "
        "measures the generator as much as the server (for the ceiling: h2load's core was the "
        "limit, so the ceiling is at least that).",
        "h2load reports no percentiles (n/a); its mean latency is in runs.json. `server OK`: the "
        "server's own count of OK answers matched the client's (n/a: the candidate does not "
        "report it).",
        f"Most CPU used on the two pinned cores by other processes during a run: "
        f"{other_load:.0%} of a core.",
    ]
    notes += settings.skipped
    text_table = format_table(all_rows, markdown=False)
    targets = target_lines(rows_by_candidate, runs_by_candidate, h2load_runs, latency_runs)
    standing = standing_lines(rows_by_candidate, {r["candidate"]: r for r in h2_rows}, chosen,
                              h2_chosen)
    print(f"\n{settings_line}\n")
    print(text_table)
    print("\n" + "\n".join(notes).replace("`", ""))
    if standing:
        print("\nAgainst grpc-go and the HTTP/2 ceiling:\n  " + "\n  ".join(standing))
    if targets:
        print("\nTargets and feature costs:\n  " + "\n  ".join(targets))
    if errors:
        print("\nErrors:\n  " + "\n  ".join(errors))

    png_path = settings.out / "latency_vs_throughput.png"
    plot_error = write_plot(sweeps, settings, png_path) if sweeps else "no sweep: no plot"
    if plot_error:
        log(plot_error)
    plotted = not plot_error
    command = "python3 bench/compare.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    markdown = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} on {machine_description()} "
        f"in {elapsed / 60:.1f} min.",
        "",
        f"Setting: {settings_line}.",
        "",
        format_table(all_rows, markdown=True),
        "",
    ] + [f"- {note}" for note in notes]
    if standing:
        markdown += ["", "Against grpc-go and the HTTP/2 ceiling (paired by repetition: median, "
                     "min-max):", ""]
        markdown += [f"- {line}" for line in standing]
    if targets:
        markdown += ["", "Targets and feature costs (paired by repetition: median, min-max):", ""]
        markdown += [f"- {line}" for line in targets]
    if errors:
        markdown += ["", "Errors:", ""] + [f"- {error}" for error in errors]
    scrape = subprocess.run([str(settings.bench_dir / "bench_metrics_scrape")], capture_output=True, text=True)
    if scrape.returncode == 0:
        log(scrape.stdout.strip())
        markdown += ["", f"Master's /metrics: {scrape.stdout.strip()} (target under 50 ms)."]
    if plotted:
        markdown += ["", f"![latency against throughput]({png_path.name})"]
    markdown += ["", f"Regenerate with `{command.strip()}`."]
    (settings.out / "compare.md").write_text("\n".join(markdown) + "\n")
    (settings.out / "runs.json").write_text(json.dumps({
        "settings": settings_line, "machine": machine_description(),
        "runs": runs_by_candidate, "h2load": h2load_runs, "latency_1_in_flight": latency_runs,
        "sweeps": sweeps,
        "rows": all_rows, "errors": errors}, indent=1, default=str))
    log(f"\nwrote {settings.out / 'compare.md'}"
        + (f", {png_path}" if plotted else "") + f" and runs.json in {elapsed / 60:.1f} min")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
