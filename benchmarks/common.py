"""Shared helpers for the server, revocation and credential_process benchmarks.

- :func:`sandbox`: a fresh local AWS sandbox in a temp dir, plus the environment that points
  ``sentinel`` at it (with ``HOME`` in the temp dir, so the credentials cache is the bench's own);
- :class:`ServerSession`: a real ``sentinel exec --server`` whose child reports the endpoint
  and then waits for its stdin to close;
- :func:`start_baseline`: the bare loopback HTTP server the credential server is compared with;
- :func:`run_wrk`: one wrk run, parsed;
- :func:`median`, :func:`print_table`, :func:`print_summary`: the output style shared with
  ``audit_bench.py`` and ``export_bench.py`` (a human table, then one JSON line).

Run as a script (``python common.py baseline``) it serves the baseline: it reads the response
body from stdin, prints its port, and serves until stdin closes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
CREDENTIALS_PATH = "/sentinel/credentials"

# The child of `sentinel exec --server`: report where the endpoint is, then wait (at most 15
# minutes, so a bench that dies cannot leave it behind for long) until the bench closes stdin.
CHILD = (
    "import json, os, select, sys\n"
    "print(json.dumps({'uri': os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'],\n"
    "                  'token_file': os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE'],\n"
    "                  'session': os.environ.get('AWS_SENTINEL_SESSION_ID', '')}), flush=True)\n"
    "select.select([sys.stdin], [], [], 900)\n"
)


def tool(name: str, hint: str) -> str:
    """The path of an executable, or exit with a one-line hint."""
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is not installed; {hint}")
    return path


def sentinel_bin() -> str:
    """The ``sentinel`` script next to this Python (the venv's), else the one on PATH."""
    local = BIN / "sentinel"
    return str(local) if local.exists() else tool("sentinel", "run pip install -e '.[dev]'")


@dataclass
class Bench:
    """A running sandbox and the environment that targets it."""

    sb: Any
    root: Path
    env: dict[str, str]

    def run_sentinel(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sentinel_bin(), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@contextlib.contextmanager
def sandbox() -> Iterator[Bench]:
    """Start a sandbox in a new temp dir; stop it and remove the dir afterwards."""
    from sentinelgw.sandbox import Sandbox

    root = Path(tempfile.mkdtemp(prefix="sentinel-bench-"))
    home = root / "home"
    home.mkdir(mode=0o700)
    sb = Sandbox(root / "sandbox")
    try:
        sb.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SENTINEL_"))}
        # Measure what users get: bytecode caching on, whatever this shell says.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(sb.env())
        env["HOME"] = str(home)
        yield Bench(sb, root, env)
    finally:
        sb.stop()
        shutil.rmtree(root, ignore_errors=True)


class ServerSession:
    """``sentinel exec --server --profile P -- <CHILD>``, started and stopped by the bench."""

    def __init__(self, bench: Bench, profile: str = "prod") -> None:
        # stderr goes to a file the session owns until it ends, so a chatty Sentinel can
        # never block on a full pipe.
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sentinel_bin(),
                "exec",
                "--server",
                "--profile",
                profile,
                "--",
                sys.executable,
                "-c",
                CHILD,
            ],
            env=bench.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise SystemExit(f"sentinel exec --server did not start: {self.stderr()[-500:]}")
        info = json.loads(line)
        self.uri: str = info["uri"]
        self.session_id: str = info["session"]
        self.token = Path(info["token_file"]).read_text(encoding="utf-8")
        self.port = int(self.uri.split(":")[2].split("/")[0])
        self.exit_code: int | None = None

    def stderr(self) -> str:
        self._log.seek(0)
        return self._log.read()

    def stop(self) -> int:
        """Close the child's stdin so it exits; Sentinel then flushes and marks the session."""
        if self.proc.stdin:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.exit_code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.exit_code = self.proc.wait(timeout=10)
        return self.exit_code

    def fetch(self) -> bytes:
        """One credential response body (the bench never prints it)."""
        import urllib.request

        req = urllib.request.Request(self.uri, headers={"Authorization": self.token})
        with urllib.request.urlopen(req, timeout=5) as resp:
            body: bytes = resp.read()
        return body


def same_size_body(real: bytes) -> bytes:
    """A body of the same JSON shape and length as ``real`` with every value replaced, so the
    baseline process never holds a credential."""
    doc = json.loads(real)
    fake = {k: "x" * len(str(v)) for k, v in doc.items()}
    out = json.dumps(fake, separators=(",", ":")).encode()
    return out + b" " * (len(real) - len(out))


# -- baseline server -------------------------------------------------------------------------


def _baseline_main() -> None:
    body = sys.stdin.buffer.read(int(sys.argv[2]))
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n".encode()
        + b"Cache-Control: no-store\r\nConnection: close\r\n\r\n"
        + body
    )

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                buf += chunk
            self.request.sendall(response)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    select.select([sys.stdin], [], [], 900)
    server.shutdown()


@contextlib.contextmanager
def start_baseline(body: bytes) -> Iterator[str]:
    """A bare threaded loopback server in its own process (like Sentinel's) serving ``body``
    in one ``sendall`` per connection, then closing; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "baseline", str(len(body))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdin and proc.stdout
        proc.stdin.write(body)
        proc.stdin.flush()
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}{CREDENTIALS_PATH}"
    finally:
        if proc.stdin:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- wrk -------------------------------------------------------------------------------------

# Every request carries Connection: close, and both servers close after one response, so wrk
# opens one connection per request on both sides. The token comes from the environment so it
# never appears on a command line; request() counts what each thread sent.
WRK_LUA = """
wrk.headers["Connection"] = "close"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = token end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) sent = 0 end
function request() sent = sent + 1; return wrk.format() end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("sent") end
  io.write(string.format("BENCH_SENT %d\\n", total))
end
"""

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass(frozen=True)
class WrkResult:
    connections: int
    p50_ms: float
    p99_ms: float
    rps: float
    requests: int  # completed responses
    non_2xx: int
    socket_errors: int
    sent: int  # requests written (some may be in flight when wrk stops)

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unexpected wrk time {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str, connections: int) -> WrkResult:
    def grab(pattern: str, default: str | None = None) -> str:
        m = re.search(pattern, out)
        if m is None:
            if default is None:
                raise ValueError(f"wrk output lacks {pattern!r}:\n{out}")
            return default
        return m.group(1)

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return WrkResult(
        connections=connections,
        p50_ms=_ms(grab(r"\s50%\s+(\S+)")),
        p99_ms=_ms(grab(r"\s99%\s+(\S+)")),
        rps=float(grab(r"Requests/sec:\s+([\d.]+)")),
        requests=int(grab(r"(\d+) requests in")),
        non_2xx=int(grab(r"Non-2xx or 3xx responses: (\d+)", "0")),
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
        sent=int(grab(r"BENCH_SENT (\d+)")),
    )


def run_wrk(
    url: str, connections: int, seconds: float, token: str = "", lua: Path | None = None
) -> WrkResult:
    """One wrk run against ``url`` (127.0.0.1 only) with at most 2 threads."""
    if not url.startswith("http://127.0.0.1:"):
        raise SystemExit("benchmarks load 127.0.0.1 only")
    wrk = tool("wrk", "install it with: apt-get install wrk")
    threads = min(2, connections)
    env = dict(os.environ, BENCH_TOKEN=token)
    with tempfile.TemporaryDirectory() as tmp:
        script = lua or Path(tmp) / "bench.lua"
        if lua is None:
            script.write_text(WRK_LUA, encoding="utf-8")
        proc = subprocess.run(
            [
                wrk,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds:g}s",
                "--latency",
                "--timeout",
                "5s",
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=seconds + 60,
            check=False,
        )
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed: {(proc.stderr or proc.stdout).strip()[:300]}")
    return parse_wrk(proc.stdout, connections)


# -- numbers and output ----------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("inf")


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table: first column left, the others right."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def print_summary(summary: dict[str, Any]) -> None:
    print(json.dumps(summary))


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d"),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def describe(mach: dict[str, Any]) -> str:
    return (
        f"{mach['cpus']} CPUs ({mach['cpu']}), Python {mach['python']}, "
        f"load average before the run {mach['loadavg_1m']}"
    )


if __name__ == "__main__" and sys.argv[1:2] == ["baseline"]:
    _baseline_main()


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """A bare moto server in a subprocess on a free loopback port: (process, endpoint URL)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("moto server did not start within 30s")
