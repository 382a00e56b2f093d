"""The interop server as a process for the Python tests in this folder (wire_test.py,
hostile_h2_test.py): start it on a loopback port it picks, find its workers and their memory in
/proc, stop it.

    server = InteropServer(binary, extra_flags)   # returns once the "ready listen=..." line is logged
    server.target                                  # ("127.0.0.1", port)
    server.workers()                               # pids of the master's live children
    rss_bytes(pid)                                 # VmRSS of one process, None once it is gone
    server.stop()
"""

import os
import re
import subprocess
import sys
import tempfile
import time


class InteropServer:
    """tests/interop/interop_server with one worker on 127.0.0.1:<free port>, logging to a
    temporary file. `flags` come before `extra` (the test's own server flags, e.g. --transport
    native), so the command line's flags win."""

    def __init__(self, binary, extra=(), flags=(), ready_within=60.0):
        log = tempfile.NamedTemporaryFile(prefix="interop_server.", suffix=".log", delete=False)
        log.close()
        self.log_path = log.name
        self.process = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--workers", "1", "--metrics-address", "",
             "--drain-delay", "0s", "--log-file", self.log_path] + list(flags) + list(extra),
            stdin=subprocess.DEVNULL)
        self.pid = self.process.pid
        self.target = None
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            ready = re.search(r"ready listen=([\d.]+):(\d+) .* transport=(\w+)", self.log())
            if ready:
                self.target = (ready.group(1), int(ready.group(2)))
                # The server runs the transport the test names (the last --transport wins).
                args = list(flags) + list(extra)
                named = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--transport"]
                named += [a.split("=", 1)[1] for a in args if a.startswith("--transport=")]
                expected = named[-1] if named else "native"
                if ready.group(3) != expected:
                    self.process.kill()
                    sys.exit(f"error: the server runs transport {ready.group(3)}, the test asked for {expected}:\n"
                             f"{self.log()}")
                return
            if self.process.poll() is not None:
                sys.exit(f"error: the interop server exited with {self.process.returncode} before it was "
                         f"ready:\n{self.log()}")
            time.sleep(0.05)
        self.process.kill()
        sys.exit(f"error: the interop server was not ready within {ready_within:.0f} s:\n{self.log()}")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def workers(self):
        """The master's children that are alive (not zombies)."""
        return children_of(self.pid)

    def stop(self, remove_log=True):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if remove_log:
            os.unlink(self.log_path)


def _stat_fields(pid):
    """/proc/<pid>/stat after the command name: [state, ppid, ...], or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            content = f.read()
    except OSError:
        return None
    return content[content.rfind(")") + 2:].split()


def children_of(parent):
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields and fields[0] != "Z" and int(fields[1]) == parent:
            children.append(int(entry))
    return sorted(children)


def alive(pid):
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def rss_bytes(pid):
    """The resident set size of `pid` (VmRSS), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
