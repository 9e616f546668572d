"""The repository's pinned JavaScript tools (package.json + package-lock.json), installed with
`npm ci` into ./node_modules when any locked package is missing or at another version."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "node_modules"


def _installed_as_locked() -> bool:
    """Every package of package-lock.json is in node_modules at its locked version."""
    packages = json.loads((REPO / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    for where, locked in packages.items():
        if not where:  # the root project itself
            continue
        try:
            installed = json.loads((REPO / where / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if installed.get("version") != locked.get("version"):
            return False
    return True


def node_tools() -> Path:
    """./node_modules with exactly the locked versions; fails the test if npm is missing or fails."""
    if _installed_as_locked():
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
    return NODE_MODULES


def run_script(name: str) -> subprocess.CompletedProcess[str]:
    """`npm run <name>`: a package.json script, with the locked tools on its PATH."""
    node_tools()
    npm = shutil.which("npm") or "npm"
    return subprocess.run([npm, "run", "--silent", name], cwd=REPO, capture_output=True, text=True, timeout=300)
