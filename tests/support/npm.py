"""The repository's pinned JavaScript tools (package.json + package-lock.json), installed with
`npm ci` into ./node_modules when missing or when the lockfile changed since the last install."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "node_modules"
# Written after a successful `npm ci`: the lockfile it installed. Another hash means reinstall.
STAMP = NODE_MODULES / ".flipgen-lock.sha256"


def node_tools() -> Path:
    """./node_modules with exactly the locked versions; fails the test if npm is missing or fails."""
    lock = hashlib.sha256((REPO / "package-lock.json").read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text(encoding="utf-8").strip() == lock:
        return NODE_MODULES
    npm = shutil.which("npm")
    if not npm:
        pytest.fail("npm (with Node.js >= 20.19) is required for the JavaScript tools: apt-get install nodejs npm")
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"npm ci failed:\n{proc.stdout}\n{proc.stderr}")
    STAMP.write_text(lock + "\n", encoding="utf-8")
    return NODE_MODULES


def run_script(name: str) -> subprocess.CompletedProcess[str]:
    """`npm run <name>`: a package.json script, with the locked tools on its PATH."""
    node_tools()
    npm = shutil.which("npm") or "npm"
    return subprocess.run([npm, "run", "--silent", name], cwd=REPO, capture_output=True, text=True, timeout=300)
