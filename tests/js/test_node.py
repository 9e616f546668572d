"""Runs the JavaScript unit tests (tests/js/*.test.mjs) with Node's built-in test runner."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent


def test_node_suite() -> None:
    node = shutil.which("node")
    assert node, "Node.js (>= 20) is required for the JavaScript tests"
    files = sorted(str(p) for p in HERE.glob("*.test.mjs"))
    proc = subprocess.run([node, "--test", *files], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
