#!/usr/bin/env python3
"""Checks the greeter's deployment files against the server they deploy.

Usage: deploy_files_test.py <greeter_server binary> <examples/greeter/deploy dir>

- greeter.toml passes the server's own --check-config;
- the Kubernetes manifest parses, probes grpc.health.v1 on the serving port, gives the pod
  terminationGracePeriodSeconds >= drain-delay + shutdown-timeout + 5s (values from the config the
  pod runs with, defaults from the server's --help), requests one CPU per worker, and points the
  Prometheus annotations at the metrics port;
- the systemd unit is Type=notify, NotifyAccess=all, KillMode=mixed, with TimeoutStopSec covering
  the drain;
- the Dockerfile's runtime stage installs every Debian package the binary's libraries come from.
"""
import os
import re
import subprocess
import sys

import yaml

failures = []


def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)


def seconds(text):
    match = re.fullmatch(r"([0-9.]+)(ms|s|m|h)?", text.strip().strip('"'))
    if not match:
        raise ValueError(text)
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def help_defaults(binary):
    text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    return {m.group(1): m.group(2) for m in re.finditer(r"--([a-z-]+) [A-Z]+.*?\[default: ([^;\]]*)", text)}


def toml_values(path):
    values = {}
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            values[key] = value.strip('"')
    return values


def main():
    binary, deploy = sys.argv[1], sys.argv[2]
    toml = os.path.join(deploy, "greeter.toml")
    result = subprocess.run([binary, "--config", toml, "--check-config"], capture_output=True, text=True)
    check(result.returncode == 0, f"greeter.toml passes --check-config ({result.stdout.strip()}{result.stderr.strip()})")

    defaults = help_defaults(binary)
    config = {**defaults, **toml_values(toml)}
    drain = seconds(config["drain-delay"]) + seconds(config["shutdown-timeout"]) + 5
    listen_port = int(re.search(r":(\d+)", config["listen"]).group(1))
    metrics_port = int(config["metrics-address"].rsplit(":", 1)[1])

    docs = [d for d in yaml.safe_load_all(open(os.path.join(deploy, "kubernetes.yaml"))) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    args = container.get("args", [])
    workers = int(args[args.index("--workers") + 1]) if "--workers" in args else int(config["workers"])
    check(pod["spec"]["terminationGracePeriodSeconds"] >= drain,
          f"terminationGracePeriodSeconds {pod['spec']['terminationGracePeriodSeconds']} >= drain {drain:g}s")
    for probe in ("readinessProbe", "livenessProbe"):
        check(container[probe].get("grpc", {}).get("port") == listen_port,
              f"{probe} is a gRPC health probe on port {listen_port}")
    check(str(container["resources"]["requests"]["cpu"]) == str(workers), f"CPU request equals workers ({workers})")
    annotations = pod["metadata"]["annotations"]
    check(annotations.get("prometheus.io/scrape") == "true", "Prometheus scrape annotation")
    check(int(annotations.get("prometheus.io/port", 0)) == metrics_port, f"Prometheus port {metrics_port}")
    ports = {p["containerPort"] for p in container["ports"]}
    check({listen_port, metrics_port} <= ports, "container ports expose gRPC and metrics")

    unit = open(os.path.join(deploy, "greeter.service")).read()
    for setting in ("Type=notify", "NotifyAccess=all", "KillMode=mixed", "KillSignal=SIGTERM"):
        check(re.search(rf"^{setting}$", unit, re.M) is not None, f"unit has {setting}")
    stop = re.search(r"^TimeoutStopSec=(\d+)", unit, re.M)
    check(stop is not None and int(stop.group(1)) >= drain, f"TimeoutStopSec covers the drain ({drain:g}s)")

    dockerfile = open(os.path.join(deploy, "Dockerfile")).read()
    runtime = dockerfile.split("FROM debian:12-slim", 1)[1]
    needed = set()
    for line in subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split("=>")
        if len(parts) != 2 or not parts[1].strip().startswith("/"):
            continue
        path = os.path.realpath(parts[1].split()[0])
        for candidate in (path, "/usr" + path, parts[1].split()[0], "/usr" + parts[1].split()[0]):
            owner = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if owner.returncode == 0:
                needed.add(owner.stdout.split(":")[0])
                break
    needed -= {"libc6", "libgcc-s1"}  # essential: in every Debian image
    missing = sorted(p for p in needed if not re.search(rf"\b{re.escape(p)}\b", runtime))
    check(not missing, f"Dockerfile runtime stage installs the binary's libraries (missing: {missing})")

    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
