#!/usr/bin/env python3
"""Runs one interop client over gRPC's interop cases against interop_server, as CTest's interop.*
entries do (tests/interop/CMakeLists.txt):

    interop_runner.py --server <interop_server> [--tls] [--server-flag=FLAG]... [--skip CASE]...
                      -- <client command...>

Starts the server (one worker, 127.0.0.1, a port it picks; with --tls, a CA and a certificate made
with openssl in a temporary directory), runs the client with the interop client flags
(--server_host, --server_port, --use_tls, --ca_file, --server_host_override, --test_case), checks
that the client printed `PASS <case>` for every case it was given and exited 0, and stops the
server, which must exit 0 and log no warning or error. --server-flag adds a gryphon flag (use the
`=` form: --server-flag=--transport=native); --skip leaves a case out (say why where it is given).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

from interop_process import InteropServer

CASES = ["empty_unary", "large_unary", "client_compressed_unary", "server_compressed_unary", "client_streaming",
         "client_compressed_streaming", "server_streaming", "server_compressed_streaming", "ping_pong", "empty_stream",
         "cancel_after_begin", "cancel_after_first_response", "timeout_on_sleeping_server", "custom_metadata",
         "status_code_and_message", "special_status_message", "unimplemented_method", "unimplemented_service"]

TLS_NAME = "interop.test.gryphon"  # the only name in the server's certificate: clients must override
CLIENT_TIMEOUT = 240  # seconds for the whole client run


def run_quietly(command):
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed ({result.returncode}); is openssl installed "
                 f"(scripts/install-deps.sh)?\n{result.stdout}")


def make_certificates(directory):
    """A CA and a server certificate for TLS_NAME signed by it; returns (ca, cert, key) paths."""
    ca, ca_key = os.path.join(directory, "ca.pem"), os.path.join(directory, "ca.key")
    cert, key = os.path.join(directory, "server.pem"), os.path.join(directory, "server.key")
    csr, ext = os.path.join(directory, "server.csr"), os.path.join(directory, "server.ext")
    run_quietly(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", "/CN=gryphon interop test CA", "-keyout", ca_key, "-out", ca])
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{TLS_NAME}\n")
    run_quietly(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={TLS_NAME}",
                 "-keyout", key, "-out", csr])
    run_quietly(["openssl", "x509", "-req", "-days", "2", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                 "-CAcreateserial", "-extfile", ext, "-out", cert])
    return ca, cert, key


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="the interop_server binary")
    parser.add_argument("--tls", action="store_true", help="serve TLS with a certificate made for this run")
    parser.add_argument("--server-flag", action="append", default=[], help="an extra gryphon flag (repeatable)")
    parser.add_argument("--skip", action="append", default=[], metavar="CASE", help="leave a case out (repeatable)")
    parser.add_argument("client", nargs=argparse.REMAINDER, help="-- then the client command")
    args = parser.parse_args()
    if args.client[:1] == ["--"]:
        args.client = args.client[1:]
    if not args.client:
        parser.error("give the client command after --, e.g. -- build/tests/interop/interop_client_cxx")
    unknown = [name for name in args.skip if name not in CASES]
    if unknown:
        parser.error(f"--skip {', '.join(unknown)}: no such case; the cases are {', '.join(CASES)}")
    return args


def results(output, cases):
    """Problems with the client's output: a case without exactly one PASS or FAIL line, or a FAIL."""
    problems = []
    for name in cases:
        verdicts = re.findall(rf"^(PASS|FAIL) {name}\b", output, re.MULTILINE)
        if len(verdicts) != 1:
            problems.append(f"the client printed {len(verdicts)} result lines for {name}, expected one")
        elif verdicts[0] == "FAIL":
            problems.append(f"{name} failed (see its FAIL line above)")
    return problems


def main():
    args = parse_args()
    cases = [name for name in CASES if name not in args.skip]
    with tempfile.TemporaryDirectory(prefix="gryphon-interop.") as directory:
        server_flags = list(args.server_flag)
        client_flags = ["--use_tls=false"]
        if args.tls:
            ca, cert, key = make_certificates(directory)
            server_flags += ["--tls-cert", cert, "--tls-key", key]
            client_flags = ["--use_tls=true", f"--ca_file={ca}", f"--server_host_override={TLS_NAME}"]
        server = InteropServer(args.server, server_flags)
        host, port = server.target
        command = args.client + [f"--server_host={host}", f"--server_port={port}", f"--test_case={','.join(cases)}"]
        command += client_flags
        print(f"server: {args.server} {' '.join(server_flags)}\nclient: {' '.join(command)}", flush=True)
        problems = []
        try:
            client = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    timeout=CLIENT_TIMEOUT)
            print(client.stdout, end="", flush=True)
            problems += results(client.stdout, cases)
            if client.returncode != 0:
                problems.append(f"the client exited with {client.returncode}")
        except subprocess.TimeoutExpired as e:
            print(e.stdout or "", end="")
            problems.append(f"the client did not finish within {CLIENT_TIMEOUT} s (a call without a deadline?); "
                            "killed it")
        except OSError as e:
            problems.append(f"could not run the client {args.client[0]}: {e}; build it first (see CMakeLists.txt)")
        problems += stopped_cleanly(server)
    for problem in problems:
        print(f"error: {problem}")
    if args.skip:
        print(f"skipped by the registration: {', '.join(args.skip)}")
    print("interop: " + ("FAILED" if problems else f"all {len(cases)} cases passed"))
    sys.exit(1 if problems else 0)


def stopped_cleanly(server):
    """Stops the server; problems if it did not exit 0 or logged a warning or an error (a worker
    that died, a call it could not handle). Keeps its log then and says where."""
    server.stop(remove_log=False)
    problems = []
    if server.process.returncode != 0:
        problems.append(f"the interop server exited with {server.process.returncode} on SIGTERM, expected 0")
    trouble = re.findall(r"^\S+ (?:warn|error|critical)\b.*$", server.log(), re.MULTILINE)
    if trouble:
        problems.append(f"the interop server logged {len(trouble)} warning/error line(s), the first: {trouble[0]}")
    if problems:
        problems.append(f"the server log is kept at {server.log_path}:\n{server.log()}")
    else:
        os.unlink(server.log_path)
    return problems


if __name__ == "__main__":
    main()
