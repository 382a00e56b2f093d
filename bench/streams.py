#!/usr/bin/env python3
"""Server streams held open: 10,000 on one worker, one message per stream per second.

    python3 bench/streams.py                   # 3 reps, 10,000 streams over 50 connections
    python3 bench/streams.py --reps 1 --streams 2000 --hold 5 --out /tmp/streams

Issue #23's benchmark 2, with compare.py's machinery (the server pinned to core 0, the client on
core 1, candidates interleaved, medians over the repetitions). The client is grpc-go's
(bench_streams_client): it opens every stream of Ticker/Ticks (bench/echo.proto) at once, waits
for each one's first message, then counts messages for --hold seconds while this script reads the
server's RSS (the whole process tree: gryphon's master and its one worker, or grpc-go's process).

- grpc-go: a goroutine per stream, sleeping between messages (GOMAXPROCS=1);
- gryphon-async: an async handler (`co_await gryphon::sleep_for`, `co_await writer.write`), with
  --max-concurrent-rpcs raised above --streams (each open stream holds one of its slots);
- gryphon-pool-defaults: a blocking handler on the README's defaults, each stream on a pool
  thread: --max-streaming-calls (12) are held, the rest refused RESOURCE_EXHAUSTED at once.

RSS per stream is (RSS while every stream is held - RSS before the client connected) / held;
the ratio is against grpc-go's. The table goes to stdout and --out/streams.md, every run's numbers
to --out/streams.json.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402
from compare import Candidate, Server, log, process_cpu_seconds, rotated  # noqa: E402

HERE = Path(__file__).resolve().parent
GRYPHON = compare._GRYPHON + compare._METRICS


def candidates(streams):
    return [
        Candidate("grpc-go", "grpc-go", ["env", "GOMAXPROCS=1", "{bench}/bench_grpc_go", "--listen", "{listen}"],
                  needs="{bench}/bench_grpc_go"),
        Candidate("gryphon-async", "gryphon",
                  ["env", "BENCH_HANDLERS=async"] + GRYPHON + ["--max-concurrent-rpcs", str(streams + 1000)]),
        Candidate("gryphon-pool-defaults", "gryphon", ["env", "BENCH_HANDLERS=pool"] + GRYPHON),
    ]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=HERE.parent / "build")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--streams", type=int, default=10000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--interval-ms", type=int, default=1000)
    # Under gryphon's --max-connection-age (10 s ± 10%) from the first connection: its GOAWAY would
    # end the held streams' connections (grpc-go's client reconnects, but the streams are gone).
    parser.add_argument("--hold", type=float, default=5)
    parser.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    compare.add_pinning_args(parser)
    args = parser.parse_args()
    compare.read_pinning_args(parser, args)
    args.bench_dir = args.build_dir / "bench"
    args.client = args.bench_dir / "bench_streams_client"
    args.docroot = args.out
    return args


def rss_bytes(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def run_once(server, settings):
    """One client run against a started server: what it held, its message rate, RSS and CPU."""
    pids = server.pids()
    before = rss_bytes(pids)
    command = ["taskset", "-c", settings.generator_cpus, str(settings.client), "--target",
               f"127.0.0.1:{server.port}", "--streams", str(settings.streams), "--connections",
               str(settings.connections), "--interval-ms", str(settings.interval_ms), "--hold", str(settings.hold)]
    client = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    held_line = client.stdout.readline().split()
    if len(held_line) != 6 or held_line[0] != "held":
        client.kill()
        raise RuntimeError(f"{server.candidate.name}: the client said {held_line!r}: {client.stderr.read()}")
    held, refused, opened_ms = int(held_line[1]), int(held_line[3]), int(held_line[5])
    cpu_before = process_cpu_seconds(server.pids())
    peak = 0
    while client.poll() is None:  # sampled while the client counts messages
        peak = max(peak, rss_bytes(server.pids()))
        time.sleep(0.25)
    cpu = process_cpu_seconds(server.pids()) - cpu_before
    rest = client.stdout.read().split()
    stderr = client.stderr.read()
    if client.returncode != 0 or len(rest) != 4 or rest[0] != "messages":
        raise RuntimeError(f"{server.candidate.name}: the client failed ({client.returncode}): {stderr}")
    messages, in_ms = int(rest[1]), int(rest[3])
    return {"held": held, "refused": refused, "opened_ms": opened_ms, "messages": messages,
            "messages_per_s": messages / (in_ms / 1000), "rss_before": before, "rss_held": peak,
            "rss_per_stream": (peak - before) / held if held else float("nan"),
            "cpu_us_per_message": cpu * 1e6 / messages if messages else float("nan"),
            "first_error": stderr.strip()}


def median(results, key):
    values = [key(r) for r in results]
    return statistics.median(values) if values else float("nan")


def main():
    settings = parse_args()
    settings.out.mkdir(parents=True, exist_ok=True)
    if not settings.no_build:
        compare.build_benchmark_targets(settings.build_dir)
        subprocess.run(["cmake", "--build", str(settings.build_dir), "--target", "bench_streams_client"],
                       check=True, stdout=subprocess.DEVNULL)
    group = [c for c in candidates(settings.streams)
             if not c.needs or Path(c.needs.format(bench=settings.bench_dir)).exists()]
    runs = settings.reps * len(group)
    log(f"{runs} runs of about {settings.hold + 5:.0f} s each: about {runs * (settings.hold + 8) / 60:.1f} min")
    results = {c.name: [] for c in group}
    log_file = open(Path(tempfile.gettempdir()) / "gryphon-streams-servers.log", "a")  # servers' stderr
    for rep in range(settings.reps):
        for candidate in rotated(group, rep):
            with Server(candidate, settings, log_file) as server:
                result = run_once(server, settings)
            log(f"rep {rep + 1}/{settings.reps} {candidate.name}: held {result['held']:,} "
                f"(refused {result['refused']:,}) in {result['opened_ms']} ms, "
                f"{result['messages_per_s']:,.0f} msg/s, RSS +{(result['rss_held'] - result['rss_before']) / 2**20:.1f} MiB "
                f"= {result['rss_per_stream'] / 1024:.1f} KiB/stream, {result['cpu_us_per_message']:.1f} us/msg")
            results[candidate.name].append(result)

    go_rss = median(results["grpc-go"], lambda r: r["rss_per_stream"]) if "grpc-go" in results else None
    header = ["candidate", "held", "refused", "msg/s", "RSS before MiB", "RSS held MiB", "KiB/stream",
              "× grpc-go", "srv µs/msg"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, rs in results.items():
        per_stream = median(rs, lambda r: r["rss_per_stream"])
        lines.append("| " + " | ".join([
            name, f"{median(rs, lambda r: r['held']):,.0f}", f"{median(rs, lambda r: r['refused']):,.0f}",
            f"{median(rs, lambda r: r['messages_per_s']):,.0f}",
            f"{median(rs, lambda r: r['rss_before']) / 2**20:.1f}", f"{median(rs, lambda r: r['rss_held']) / 2**20:.1f}",
            f"{per_stream / 1024:.1f}", f"{per_stream / go_rss:.2f}" if go_rss else "",
            f"{median(rs, lambda r: r['cpu_us_per_message']):.1f}"]) + " |")
    report = (f"## {settings.streams:,} server streams held on one worker, one message per stream every "
              f"{settings.interval_ms} ms\n\nOver {settings.connections} connections from grpc-go's client "
              f"(bench_streams_client). Server on core {settings.server_cpus}, client on core "
              f"{settings.generator_cpus}; medians of {settings.reps} interleaved runs, each holding "
              f"for {settings.hold:.0f} s.\n\n" + "\n".join(lines) + "\n")
    print(report)
    (settings.out / "streams.md").write_text(report)
    (settings.out / "streams.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
