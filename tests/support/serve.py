"""Helpers for `flipgen serve` tests and benchmarks: a server subprocess, an SSE reader,
editor-like saves. Real sockets on 127.0.0.1 only."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FLIPGEN = [sys.executable, "-m", "flipgen.cli"]


def copy_project(dest: Path) -> Path:
    """A writable copy of the repository's example sites as a fresh project."""
    shutil.copytree(REPO / "sites", dest / "sites")
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return dest


def save(path: Path, text: str) -> None:
    """Save like many editors do: write a temporary file beside it, then rename it over."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def line_of(text: str, prefix: str) -> int:
    """1-based number of the first line starting with ``prefix``."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith(prefix):
            return number
    raise AssertionError(f"no line starts with {prefix!r}")


class Server:
    """`flipgen serve PROJECT --port 0` in a subprocess, its output collected line by line."""

    def __init__(self, project: Path, *args: str) -> None:
        self.project = project
        self.lines: list[str] = []
        self.cond = threading.Condition()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
        self.proc = subprocess.Popen(
            [*FLIPGEN, "serve", str(project), "--port", "0", *args],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        match = self.wait_for(r"serving http://127\.0\.0\.1:(\d+)/")
        self.port = int(match.group(1))
        self.base = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    @property
    def output(self) -> str:
        with self.cond:
            return "\n".join(self.lines)

    def mark(self) -> int:
        """The number of lines so far: pass it to wait_for/count to look only after it."""
        with self.cond:
            return len(self.lines)

    def wait_for(self, pattern: str, after: int = 0, timeout: float = 30.0) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[after:]:
                    found = regex.search(line)
                    if found:
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError(
                        f"no line matching {pattern!r} in the server output:\n" + "\n".join(self.lines)
                    )
                self.cond.wait(min(left, 0.2))

    def count(self, pattern: str, after: int = 0) -> int:
        regex = re.compile(pattern)
        with self.cond:
            return sum(1 for line in self.lines[after:] if regex.search(line))

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One request with the path sent exactly as given (no client-side normalisation)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path)

    def stop(self) -> int:
        """Ctrl-C, as a user would; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("the server did not stop on Ctrl-C:\n" + self.output) from None
        self.reader.join(timeout=5)
        return self.proc.returncode

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@dataclass
class Event:
    name: str
    data: dict[str, Any]
    received: float


class EventStream:
    """Reads /_flipgen/livereload in a thread; events arrive on ``events`` as they come."""

    def __init__(self, port: int) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.conn.request("GET", "/_flipgen/livereload", headers={"Accept": "text/event-stream"})
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("content-type", "").startswith("text/event-stream")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        name, data = "message", []
        try:
            for raw in self.response:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if data:
                        self.events.put(Event(name, json.loads("\n".join(data)), time.perf_counter()))
                    name, data = "message", []
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
        except Exception:  # noqa: BLE001 - closing the stream from another thread ends the read anyhow
            pass

    def next(self, name: str | None = None, timeout: float = 30.0) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {name or 'SSE'} event within {timeout} s")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if name is None or event.name == name:
                return event

    def drain(self) -> list[Event]:
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        try:
            self.conn.sock.shutdown(2) if self.conn.sock else None
        except OSError:
            pass
        self.conn.close()


def files_under(folder: Path) -> Iterator[Path]:
    return (p for p in sorted(folder.rglob("*")) if p.is_file())
