"""`flipgen token-server` as a real process for webhook tests: its own session, so kill -9 takes
every worker with it; stderr kept for assertions about the log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.conftest import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
SITE = """\
title: Apply
screens:
  - id: about
    type: form
    fields:
      - {id: email, type: email, label: Email address}
      - {id: plan, type: radio, label: Which plan?, options: [basic, pro]}
    next: done
  - id: done
    type: end
"""


def make_project(root: Path, webhooks_yaml: str = "") -> Path:
    (root / "sites").mkdir(parents=True, exist_ok=True)
    (root / "sites" / "apply.yaml").write_text(SITE, encoding="utf-8")
    (root / "flipgen.yaml").write_text(webhooks_yaml, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "flipgen.cli", "build", str(root), "-q"], check=True, cwd=REPO)
    return root


class Server:
    def __init__(self, root: Path, env: Mapping[str, str], *, workers: int = 1) -> None:
        self.root = root
        self.env = {**os.environ, "FLIPGEN_WEBHOOK_RETRY_SCALE": "0.001", **env}
        self.workers = workers
        self.port = free_port()
        self.log = root / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        command = [sys.executable, "-m", "flipgen.cli", "token-server", str(self.root), "--sandbox"]
        command += ["--port", str(self.port), "--workers", str(self.workers), "--rate-limit", "0"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, cwd=REPO, env=self.env, stderr=log, start_new_session=True)
        wait_for_port(self.port, self.proc, timeout=60)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")
