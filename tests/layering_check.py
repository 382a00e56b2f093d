#!/usr/bin/env python3
"""The folder layering of gryphon's sources, as a table of allowed edges.

    layering_check.py <source dir>

Every `#include "…"` in framework/ and interceptors/ is an edge from the including file's folder
to the included file's folder (framework/include/gryphon/ is `include`; framework/server.cc is
`server`). An edge must be in ALLOWED below; the table itself must have no cycle, so that adding
an upward include fails here instead of growing a knot. interceptors/ is a layer above the core:
it may use the public headers and the few core headers named in EXPORTED_TO_INTERCEPTORS, and no
core file may include it. Exits 1 with every offending line, or prints what it checked.
"""

import os
import re
import sys

# folder -> the folders its files may include (besides its own).
ALLOWED = {
    "include": set(),
    "os": set(),
    "config": set(),
    "control": set(),
    "observability": {"config", "control", "include"},
    "dispatch": {"include", "observability"},
    "client": {"dispatch", "include"},
    "transport": {"config", "dispatch", "include", "observability", "os"},
    "worker": {"config", "control", "dispatch", "include", "observability", "os", "transport"},
    "instance": {"config", "include", "observability", "os", "transport", "worker"},
    "supervisor": {"config", "control", "include", "instance", "observability", "os", "transport", "worker"},
    "server": {"config", "include", "instance", "observability", "os", "supervisor", "transport", "worker"},
    "interceptors": {"include", "core-exports"},
}

# The core headers the built-in interceptors may include, each for a reason of its own.
EXPORTED_TO_INTERCEPTORS = {
    "worker/worker.h": "BuiltinsProvider, the door through which the core takes the built-ins",
    "observability/rpc_metrics_store.h": "the per-slot segments the metrics interceptor counts into",
    "observability/json.h": "the JSON writer the access log shares with the server logs",
    "dispatch/context_access.h": "the request id the request-id interceptor sets on a Context",
    "config/config.h": "the access log's options",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder_of(root, path):
    rel = os.path.relpath(path, root).split(os.sep)
    if rel[0] == "interceptors":
        return "interceptors"
    rel = rel[1:]  # below framework/
    if rel[0] == "include":
        return "include"
    return rel[0] if len(rel) > 1 else os.path.splitext(rel[0])[0]


def target_of(root, including, header):
    """The folder an include names, or None for a header beside the including file."""
    if header.startswith("gryphon/"):
        return "include"
    if os.path.exists(os.path.join(os.path.dirname(including), header)) and "/" not in header:
        return None
    first = header.split("/")[0]
    if first == "interceptors" or os.path.exists(os.path.join(root, "interceptors", header)):
        return "interceptors"
    if os.path.isdir(os.path.join(root, "framework", first)):
        return first
    return "unknown"


def cycle_in(table):
    """A cycle in the table of allowed edges, as a list of folders, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(table.get(node, ())):
            if nxt not in table:
                continue
            if state.get(nxt) == "open":
                return path + [node, nxt]
            if nxt not in state:
                found = visit(nxt, path + [node])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(table):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def main():
    if len(sys.argv) != 2 or not os.path.isdir(os.path.join(sys.argv[1], "framework")):
        sys.exit("usage: layering_check.py <source dir> (the directory that holds framework/)")
    root = sys.argv[1]
    cycle = cycle_in(ALLOWED)
    if cycle:
        sys.exit("the table of allowed folder edges has a cycle: " + " -> ".join(cycle) +
                 "; a folder below must not include one above it")
    problems, files, edges = [], 0, set()
    for top in ("framework", "interceptors"):
        for directory, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.join(directory, name)
                files += 1
                source = folder_of(root, path)
                if source not in ALLOWED:
                    problems.append(f"{path}: folder '{source}' is not in the layering table; add it to ALLOWED")
                    continue
                with open(path, encoding="utf-8") as text:
                    for number, line in enumerate(text, 1):
                        match = INCLUDE.match(line)
                        if not match:
                            continue
                        header = match.group(1)
                        target = target_of(root, path, header)
                        if target is None or target == source:
                            continue
                        if source == "interceptors" and header in EXPORTED_TO_INTERCEPTORS:
                            edges.add((source, header))
                            continue
                        if target in ALLOWED[source]:
                            edges.add((source, target))
                            continue
                        why = ("the interceptors may include public headers and the core's exported ones "
                               f"({', '.join(sorted(EXPORTED_TO_INTERCEPTORS))}) only"
                               if source == "interceptors" else
                               "the core includes nothing from interceptors/; pass what it needs through "
                               "BuiltinsProvider" if target == "interceptors" else
                               f"{source}/ may include {', '.join(sorted(ALLOWED[source])) or 'nothing outside itself'}")
                        problems.append(f"{path}:{number}: {source} -> {target} ({header}): {why}")
    if files < 50:
        problems.append(f"only {files} source files found under {root}: is the source dir right?")
    if problems:
        print("layering: includes against the table in tests/layering_check.py:", file=sys.stderr)
        for problem in problems:
            print("  " + problem, file=sys.stderr)
        sys.exit(1)
    print(f"layering: {files} files, {len(edges)} distinct folder edges, all in the table; the table has no cycle")


if __name__ == "__main__":
    main()
