#!/usr/bin/env python3
"""Handlers that wait: gryphon's async handlers against its synchronous pool path and grpc-go.

    python3 bench/wait.py                     # 3 reps, 20 ms waits at 1,000 in flight
    python3 bench/wait.py --reps 1 --duration 5 --out /tmp/wait

Two rows of issue #23's benchmarks, measured with compare.py's machinery (the server pinned to
core 0, gryphon-bench on core 1, candidates interleaved, medians over the repetitions):

1. I/O-bound unary: every call waits --wait-ms (20) before it answers, --in-flight (1,000) calls at
   once over 10 connections. gryphon async (`co_await gryphon::sleep_for`), gryphon's pool handler
   on the README's defaults (a blocking sleep on one of 16 threads) and grpc-go (`time.Sleep` in
   its goroutine per call). Little's bound is in-flight / wait (50,000 RPC/s): the table gives
   each candidate's share of it and its server CPU per RPC against grpc-go's.
2. No-wait async unary: the same Echo answered at once by an async handler and by the inline
   synchronous handler (what a coroutine frame costs), 64 in flight over 4 connections.

The table goes to stdout and --out/wait.md; every run's numbers to --out/wait.json.
"""

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402
from compare import Candidate, Server, log, rotated, run_generator  # noqa: E402

HERE = Path(__file__).resolve().parent
GRYPHON = compare._GRYPHON + compare._METRICS


def candidates(wait_us):
    delay = f"BENCH_HANDLER_DELAY_US={wait_us}"
    waiting = [
        Candidate("grpc-go", "grpc-go",
                  ["env", "GOMAXPROCS=1", delay, "{bench}/bench_grpc_go", "--listen", "{listen}"], True,
                  needs="{bench}/bench_grpc_go"),
        Candidate("gryphon-async", "gryphon", ["env", "BENCH_HANDLERS=async", delay] + GRYPHON, True),
        Candidate("gryphon-pool-defaults", "gryphon", ["env", "BENCH_HANDLERS=pool", delay] + GRYPHON, True),
    ]
    no_wait = [
        Candidate("gryphon-inline", "gryphon", GRYPHON, True),
        Candidate("gryphon-async-nowait", "gryphon", ["env", "BENCH_HANDLERS=async"] + GRYPHON, True),
    ]
    return waiting, no_wait


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=HERE.parent / "build")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2)
    # Warm-up and run stay under gryphon's --max-connection-age (10 s ± 10%): gryphon-bench's direct
    # connections do not come back after its GOAWAY, as in compare.py.
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--wait-ms", type=int, default=20)
    parser.add_argument("--in-flight", type=int, default=1000)
    parser.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    compare.add_pinning_args(parser)
    args = parser.parse_args()
    compare.read_pinning_args(parser, args)
    args.bench_dir = args.build_dir / "bench"
    args.generator = args.bench_dir / "gryphon-bench"
    args.docroot = args.out
    args.scenario = "string_100B"
    return args


def measure(settings, group, concurrency, connections):
    """Runs each candidate of `group` --reps times, interleaved; returns name -> list of results."""
    settings.connections = connections
    results = {c.name: [] for c in group}
    log_file = open(Path(tempfile.gettempdir()) / "gryphon-wait-servers.log", "a")  # servers' stderr
    for rep in range(settings.reps):
        for candidate in rotated(group, rep):
            with Server(candidate, settings, log_file) as server:
                result = run_generator(server, settings, concurrency, settings.warmup, settings.duration)
            failed = sum(result.get("failures_by_code", {}).values())
            log(f"rep {rep + 1}/{settings.reps} {candidate.name}: {result['throughput_rps']:,.0f} RPC/s, "
                f"p99 {result['latency_us']['p99'] / 1000:.1f} ms, server "
                f"{result['server']['cpu_us_per_rpc']:.2f} us/RPC, {failed} failed, ok check {result['ok_check']}")
            results[candidate.name].append(result)
    return results


def median(results, key):
    values = [key(r) for r in results]
    return statistics.median(values) if values else float("nan")


def row(name, results, bound=None, go=None):
    rps = median(results, lambda r: r["throughput_rps"])
    cpu = median(results, lambda r: r["server"]["cpu_us_per_rpc"])
    p50 = median(results, lambda r: r["latency_us"]["p50"]) / 1000
    p99 = median(results, lambda r: r["latency_us"]["p99"]) / 1000
    rss = median(results, lambda r: r["server"]["rss_bytes"]) / (1 << 20)
    failed = sum(sum(r.get("failures_by_code", {}).values()) for r in results)
    cells = [name, f"{rps:,.0f}", f"{p50:.1f}", f"{p99:.1f}", f"{cpu:.2f}", f"{rss:.0f}", str(failed)]
    cells.append(f"{rps / bound:.2f}" if bound else "")
    cells.append(f"{cpu / go:.2f}" if go else "")
    return cells


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def main():
    settings = parse_args()
    settings.out.mkdir(parents=True, exist_ok=True)
    if not settings.no_build:
        compare.build_benchmark_targets(settings.build_dir)
    waiting, no_wait = candidates(settings.wait_ms * 1000)
    waiting = [c for c in waiting if not c.needs or Path(c.needs.format(bench=settings.bench_dir)).exists()]
    runs = settings.reps * (len(waiting) + len(no_wait))
    log(f"{runs} runs of {settings.warmup + settings.duration:.0f} s: about "
        f"{runs * (settings.warmup + settings.duration + 2) / 60:.1f} min")
    waited = measure(settings, waiting, settings.in_flight, 10)
    quick = measure(settings, no_wait, 64, 4)

    bound = settings.in_flight / (settings.wait_ms / 1000)
    go_cpu = median(waited["grpc-go"], lambda r: r["server"]["cpu_us_per_rpc"]) if "grpc-go" in waited else None
    header = ["candidate", "RPC/s", "p50 ms", "p99 ms", "srv µs/RPC", "RSS MB", "failed", "× Little", "cpu × go"]
    first = table(header, [row(name, results, bound, go_cpu) for name, results in waited.items()])
    inline_rps = median(quick["gryphon-inline"], lambda r: r["throughput_rps"])
    second_rows = []
    for name, results in quick.items():
        cells = row(name, results)[:7]
        cells.append(f"{median(results, lambda r: r['throughput_rps']) / inline_rps:.2f}")
        second_rows.append(cells)
    second = table(header[:7] + ["× inline"], second_rows)
    report = (f"## Handlers that wait {settings.wait_ms} ms, {settings.in_flight} in flight over 10 "
              f"connections\n\nLittle's bound: {bound:,.0f} RPC/s. Server on core {settings.server_cpus}, "
              f"gryphon-bench on core {settings.generator_cpus}; medians of {settings.reps} interleaved "
              f"runs of {settings.duration:.0f} s.\n\n{first}\n\n## No wait: an async handler against the "
              f"inline one, 64 in flight over 4 connections\n\n{second}\n")
    failed = sum(sum(r.get("failures_by_code", {}).values()) for g in (waited, quick) for rs in g.values() for r in rs)
    if failed:
        report += f"\n**{failed} calls failed**: these numbers are not comparable (see wait.json).\n"
    print(report)
    (settings.out / "wait.md").write_text(report)
    (settings.out / "wait.json").write_text(json.dumps({"waiting": waited, "no_wait": quick}, indent=1))


if __name__ == "__main__":
    main()
