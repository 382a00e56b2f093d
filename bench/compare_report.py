"""compare.py's report: rows of medians from the runs, the ratio columns, the targets, the lines
that place gryphon against grpc-go and the HTTP/2 ceiling, the tables and the plot.

Pure functions of the runs' results (dicts as gryphon-bench's --json and run_h2load() write them),
apart from write_plot, which runs gnuplot. Only the Python 3 standard library is used.
"""

import shutil
import statistics
import subprocess

# The targets, checked on every run: (candidate, measure, limit, what it means). The gRPC C++
# transport is held to raw gRPC C++ (its stack) under gryphon-bench, paired by repetition.
GATES = [
    ("gryphon-grpc-1w-metrics", "thr_ratio", (">=", 0.95), "throughput vs the fastest raw"),
    ("gryphon-grpc-1w-metrics", "cpu_ratio", ("<=", 1.10), "server CPU per RPC vs the fastest raw"),
    ("gryphon-grpc-1w-metrics", "p99_ratio", ("<=", 1.25), "p99 vs the fastest raw"),
]
# The native transport is held to grpc-go. Throughput and CPU per RPC come from the h2load pass:
# gryphon-bench (a gRPC C++ client) saturates its core long before a native worker does, so under
# it the server idles and its rate is the client's. p99 comes from gryphon-bench's repetitions at
# the same load. (candidate, pass, measure of a run, limit, what it means), each a ratio to
# grpc-go's run of the same repetition.
NATIVE_GATES = [
    ("gryphon-1w-defaults", "h2load", lambda r: r["throughput_rps"], (">=", 2.0),
     "throughput vs grpc-go (h2load, defaults: metrics and request id)"),
    ("gryphon-1w-defaults", "h2load", lambda r: server_value(r, "cpu_us_per_rpc"), ("<=", 0.5),
     "server CPU per RPC vs grpc-go (h2load)"),
    ("gryphon-1w-defaults", "bench", lambda r: r["latency_us"]["p99"], ("<=", 1.0),
     "p99 vs grpc-go (gryphon-bench, 64 in flight)"),
    ("gryphon-1w-obs", "h2load", lambda r: r["throughput_rps"], (">=", 1.5),
     "throughput vs grpc-go with the JSON access log on (h2load)"),
]
# What each feature adds, in server CPU µs per RPC: (without, with, label, target or None).
FEATURE_COSTS = [
    (f"{prefix}{without}", f"{prefix}{with_}", f"{label} ({transport})", target)
    for prefix, transport in (("gryphon-", "native"), ("gryphon-grpc-", "grpc"))
    for without, with_, label, target in (
        ("1w", "1w-metrics", "metrics interceptor", None),
        ("1w-metrics", "1w-defaults", "request id", None),
        ("1w-defaults", "1w-obs", "access log (JSON) per line", 1.5))
]


def median(values):
    return statistics.median(values) if values else float("nan")


def server_value(run, field):
    return (run.get("server") or {}).get(field, float("nan"))


def main_row(candidate, runs):
    throughput = [r["throughput_rps"] for r in runs]
    med = median(throughput)
    return {
        "candidate": candidate.name, "kind": candidate.kind, "client": "gryphon-bench",
        "throughput": med,
        "spread": (max(throughput) - min(throughput)) / 2 / med if med else float("nan"),
        "p50_ms": median([r["latency_us"]["p50"] / 1e3 for r in runs]),
        "p99_ms": median([r["latency_us"]["p99"] / 1e3 for r in runs]),
        "server_us": median([server_value(r, "cpu_us_per_rpc") for r in runs]),
        "server_util": median([server_value(r, "utilization") for r in runs]),
        "rss_mb": median([server_value(r, "rss_bytes") / 1e6 for r in runs]),
        "client_us": median([r["client"]["cpu_us_per_rpc"] for r in runs]),
        "client_util": median([r["client"]["utilization"] for r in runs]),
        "failed": sum(r["failed"] for r in runs),
        "ok_check": ",".join(sorted({r["ok_check"] for r in runs})),
    }


def p99_value(run):
    return (run.get("latency_us") or {}).get("p99")  # h2load reports no percentiles


# The ratio columns: (column, the denominator's kind, the measure divided).
RATIOS = [
    ("thr_ratio", "raw", lambda run: run["throughput_rps"]),
    ("cpu_ratio", "raw", lambda run: server_value(run, "cpu_us_per_rpc")),
    ("p99_ratio", "raw", p99_value),
    ("go_ratio", "grpc-go", lambda run: run["throughput_rps"]),
    ("ceil_ratio", "ceiling", lambda run: run["throughput_rps"]),
]


def ratio_of(measure):
    def ratio(a, b):
        top, bottom = measure(a), measure(b)
        return None if top is None or not bottom else top / bottom
    return ratio


def denominators(rows, kind_of):
    """kind -> the name of its row that ratios are to: the fastest raw baseline, the first grpc-go
    and ceiling rows. rows: {name: row}."""
    chosen = {}
    for name, row in rows.items():
        kind = kind_of(name)
        if kind == "raw" and (kind not in chosen or row["throughput"] > rows[chosen[kind]]["throughput"]):
            chosen[kind] = name
        elif kind in ("grpc-go", "ceiling") and kind not in chosen:
            chosen[kind] = name
    return chosen


def add_ratios(rows_by_candidate, runs_by_candidate, candidates):
    """Each candidate's per-repetition ratios to the fastest raw baseline, to grpc-go and to the
    ceiling of the same repetition. Returns the denominators' names by kind."""
    kinds = {c.name: c.kind for c in candidates}
    chosen = denominators(rows_by_candidate, kinds.get)
    for candidate in candidates:
        for column, kind, measure in RATIOS:
            if kind not in chosen:
                continue
            value = paired(runs_by_candidate, candidate.name, chosen[kind], ratio_of(measure))
            if value is not None:
                rows_by_candidate[candidate.name][column] = value
    return chosen


def paired(runs_by_candidate, a, b, key):
    """key(run_a, run_b) over the repetitions both candidates ran: median, min, max (or None)."""
    base = {r["rep"]: r for r in runs_by_candidate.get(b, [])}
    pairs = [(r, base[r["rep"]]) for r in runs_by_candidate.get(a, []) if r["rep"] in base]
    values = [value for value in (key(*pair) for pair in pairs) if value is not None]
    return (median(values), min(values), max(values)) if values else None


def verdict(value, limit):
    op, bound = limit
    return "MET" if (value >= bound if op == ">=" else value <= bound) else "MISSED"


def target_lines(rows_by_candidate, runs_by_candidate, h2_runs, latency_runs):
    """The targets as lines of text: each measured value, its spread and MET or MISSED."""
    lines = []
    for name, measure, limit, label in GATES:
        ratio = rows_by_candidate.get(name, {}).get(measure)
        if ratio:
            lines.append(f"{name} {label}: {ratio[0]:.3f}x ({ratio[1]:.3f}-{ratio[2]:.3f}); "
                         f"target {limit[0]} {limit[1]:.2f}x: {verdict(ratio[0], limit)}")
    for name, which, measure, limit, label in NATIVE_GATES:
        ratio = paired(h2_runs if which == "h2load" else runs_by_candidate, name, "grpc-go",
                       ratio_of(measure))
        if ratio:
            lines.append(f"{name} {label}: {ratio[0]:.3f}x ({ratio[1]:.3f}-{ratio[2]:.3f}); "
                         f"target {limit[0]} {limit[1]:.2f}x: {verdict(ratio[0], limit)}")
    lines += latency_lines(latency_runs)
    same = paired(runs_by_candidate, "gryphon-grpc-1w-metrics", "raw-async-1t-nodd",
                  lambda a, b: a["throughput_rps"] / b["throughput_rps"])
    if same:
        lines.append(f"gryphon-grpc-1w-metrics throughput vs raw-async-1t-nodd (the raw server with gryphon's "
                     f"abseil setting; information, not a target): {same[0]:.3f}x ({same[1]:.3f}-{same[2]:.3f})")
    for name in ("gryphon-1w-pool", "gryphon-grpc-1w-pool"):
        pool = paired(runs_by_candidate, name, "raw-sync",
                      lambda a, b: a["throughput_rps"] / b["throughput_rps"])
        if pool:
            lines.append(f"{name} throughput vs raw-sync (gRPC's own thread-pool server): "
                         f"{pool[0]:.3f}x ({pool[1]:.3f}-{pool[2]:.3f}); target >= 1.00x: "
                         f"{verdict(pool[0], ('>=', 1.0))}")
    for without, with_, label, target in FEATURE_COSTS:
        cost = paired(runs_by_candidate, with_, without,
                      lambda a, b: server_value(a, "cpu_us_per_rpc") - server_value(b, "cpu_us_per_rpc"))
        if cost:
            line = (f"cost of the {label} ({with_} minus {without}, server CPU): "
                    f"{cost[0]:+.2f} us per RPC ({cost[1]:+.2f} to {cost[2]:+.2f})")
            if target is not None:
                line += f"; target <= {target:.1f} us: {verdict(cost[0], ('<=', target))}"
            lines.append(line)
    return lines


def standing_lines(rows, h2_rows, chosen, h2_chosen):
    """grpc-go against the fastest raw server, the ceiling against grpc-go, and each gryphon row
    against grpc-go, the fastest raw server and the ceiling: under gryphon-bench (paired by
    repetition) and in the h2load pass. rows, h2_rows: {name: row}."""
    def text(table, name, column):
        value = table.get(name, {}).get(column)
        if value is None:
            return "n/a"
        return (f"{value[0]:.2f}x" if value[1] == value[2]
                else f"{value[0]:.2f}x ({value[1]:.2f}-{value[2]:.2f})")

    go, raw, ceiling = (chosen.get(kind) or h2_chosen.get(kind) for kind in ("grpc-go", "raw", "ceiling"))
    lines = []
    if go and raw:
        lines.append(f"{go} / the fastest raw gRPC C++ server: {text(rows, go, 'thr_ratio')} "
                     f"under gryphon-bench, {text(h2_rows, go, 'thr_ratio')} under h2load")
    if go and ceiling:
        lines.append(f"{ceiling} / {go}: {text(h2_rows, ceiling, 'go_ratio')} under h2load (the "
                     f"same client), {text(rows, ceiling, 'go_ratio')} against {go}'s "
                     "gryphon-bench repetitions")
    for name, row in rows.items():
        if row["kind"] == "gryphon" and (go or ceiling):
            def under(table):
                return ", ".join(text(table, name, c) for c in ("go_ratio", "thr_ratio", "ceil_ratio"))
            lines.append(f"{name} × grpc-go, × fastest raw, × ceiling: {under(rows)} under "
                         f"gryphon-bench; {under(h2_rows)} under h2load")
    return lines


def h2load_row(candidate, runs):
    """h2load's runs of one candidate: medians (--h2load-reps in the h2load pass, --reps for the
    ceiling). h2load reports no percentiles and compare.py reads no RSS for it."""
    throughput = [r["throughput_rps"] for r in runs]
    med = median(throughput)
    return {
        "candidate": candidate.name, "kind": candidate.kind, "client": "h2load",
        "throughput": med,
        "spread": (max(throughput) - min(throughput)) / 2 / med if len(runs) > 1 and med else None,
        "p50_ms": None, "p99_ms": None, "mean_ms": median([r["latency_ms"]["mean"] for r in runs]),
        "server_us": median([server_value(r, "cpu_us_per_rpc") for r in runs]),
        "server_util": median([server_value(r, "utilization") for r in runs]),
        "rss_mb": None, "client_us": median([r["client"]["cpu_us_per_rpc"] for r in runs]),
        "client_util": median([r["client"]["utilization"] for r in runs]),
        "failed": sum(r["requests"] - r["succeeded"] for r in runs),
        "ok_check": ",".join(sorted({r["ok_check"] for r in runs})),
    }


def latency_lines(latency_runs):
    """The pass at 1 RPC in flight: each candidate's mean latency (median of its repetitions) and
    the native defaults' mean against raw gRPC C++'s, paired by repetition (target <= 1.0x)."""
    lines = []
    for name, runs in latency_runs.items():
        if runs:
            means = [r["latency_us"]["mean"] for r in runs]
            lines.append(f"{name} at 1 in flight: mean latency {median(means):.1f} us "
                         f"({min(means):.1f}-{max(means):.1f}), p99 "
                         f"{median([r['latency_us']['p99'] for r in runs]):.1f} us")
    for name in ("gryphon-1w-defaults", "gryphon-grpc-1w-defaults"):
        ratio = paired(latency_runs, name, "raw-async-1t", ratio_of(lambda r: r["latency_us"]["mean"]))
        if ratio:
            target = "target <= 1.00x: " + verdict(ratio[0], ("<=", 1.0)) if name == "gryphon-1w-defaults" \
                else "information, not a target"
            lines.append(f"{name} mean latency at 1 in flight vs raw-async-1t: {ratio[0]:.3f}x "
                         f"({ratio[1]:.3f}-{ratio[2]:.3f}); {target}")
    return lines


COLUMNS = [
    ("candidate", "candidate", "{}"), ("client", "client", "{}"),
    ("throughput", "RPC/s", "{:,.0f}"), ("spread", "±", "{:.1%}"),
    ("p50_ms", "p50 ms", "{:.3f}"), ("p99_ms", "p99 ms", "{:.3f}"),
    ("server_us", "srv µs/RPC", "{:.2f}"), ("server_util", "srv busy", "{:.0%}"),
    ("rss_mb", "RSS MB", "{:.1f}"), ("client_us", "gen µs/RPC", "{:.2f}"),
    ("client_util", "gen busy", "{:.0%}"), ("thr_ratio", "thr ×", None),
    ("cpu_ratio", "cpu ×", None), ("p99_ratio", "p99 ×", None),
    ("go_ratio", "× go", None), ("ceil_ratio", "× ceil", None),
    ("failed", "failed", "{}"), ("ok_check", "server OK", "{}"),
]


def format_cell(row, key, fmt):
    value = row.get(key)
    if value is None:
        return "n/a"
    if fmt is None:
        med, low, high = value
        return f"{med:.2f}" if low == high else f"{med:.2f} ({low:.2f}–{high:.2f})"
    text = fmt.format(value)
    if key == "server_util" and value < 0.95:
        text += "!"
    if key == "client_util" and value > 0.85:
        text += "!"
    return text


def format_table(rows, markdown):
    if not rows:
        return "(no successful runs)"
    header = [title for _, title, _ in COLUMNS]
    body = [[format_cell(row, key, fmt) for key, _, fmt in COLUMNS] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(cells[i]) for cells in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in body]
    return "\n".join(lines)


# One colour and point type per candidate (gnuplot's default palette repeats after 8).
PLOT_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf", "#000000", "#aec7e8"]


def write_plot(sweeps, settings, png_path):
    """Two panels, p50 and p99 against throughput; raw baselines dashed, gryphon candidates solid,
    grpc-go thick dash-dot."""
    if not shutil.which("gnuplot"):
        return "gnuplot not found: no plot"
    data_path = png_path.with_suffix(".dat")
    kinds = {c.name: c.kind for c in settings.candidates}
    blocks, p50_plots, p99_plots = [], [], []
    for index, (name, points) in enumerate(sweeps.items()):
        rows = [f"{p['throughput_rps'] / 1e3:.3f} {p['latency_us']['p50'] / 1e3:.4f} "
                f"{p['latency_us']['p99'] / 1e3:.4f} {p['concurrency']}" for p in points]
        blocks.append(f"# {name}\n" + "\n".join(rows))
        dash, width = {"gryphon": (1, 1.5), "grpc-go": (4, 3)}.get(kinds.get(name), (2, 1.5))
        style = (f"lc rgb '{PLOT_COLOURS[index % len(PLOT_COLOURS)]}' pt {index % 13 + 1} ps 1.2 "
                 f"lw {width} dt {dash}")
        p50_plots.append(f"'{data_path}' index {index} using 1:2 with linespoints {style} title '{name}'")
        p99_plots.append(f"'{data_path}' index {index} using 1:3 with linespoints {style} notitle")
    data_path.write_text("\n\n\n".join(blocks) + "\n")
    levels = ", ".join(str(c) for c in settings.sweep)
    script = f"""
set terminal pngcairo size 1400,600 noenhanced
set output '{png_path}'
set multiplot layout 1,2 title 'Latency against throughput: closed loop at concurrency {levels}, {settings.scenario} (raw gRPC C++ dashed, grpc-go thick dash-dot, gryphon solid)'
set xlabel 'throughput (thousand RPC/s)'
set logscale y
set grid
set key top left font ',9'
set ylabel 'p50 latency (ms, log scale)'
plot {", ".join(p50_plots)}
set ylabel 'p99 latency (ms, log scale)'
plot {", ".join(p99_plots)}
unset multiplot
"""
    completed = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if completed.returncode != 0:
        return f"gnuplot failed: {completed.stderr.strip()}"
    return None
