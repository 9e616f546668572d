"""Regenerate the two lock files from pyproject.toml, in one command:

    python scripts/lock.py            # keep every existing pin that still fits; pin new packages
    python scripts/lock.py --upgrade  # move every pin to the newest release that fits

``constraints.txt``: an exact pin of every package ``pip install -e '.[dev]'`` installs (the
project, its extras and the test tools). ``.ci/run`` installs with ``pip install -c
constraints.txt -e '.[dev]'``, so CI tests exactly these versions.

``requirements-deploy.txt``: the token server's runtime dependencies only (the project's
dependencies plus the `postgres` and `redis` extras), every release pinned with ``--hash``
lines for every published file, at the same versions as ``constraints.txt``. Deploy with
``pip install --require-hashes -r requirements-deploy.txt`` then ``pip install --no-deps .``.

Both come from uv's resolver (``uv pip compile``; ``uv`` is a dev dependency), for Python 3.11
on any platform (``--universal``). Without ``--upgrade`` the versions installed in the running
interpreter are preferred for new pins, so the lock matches what the suite was run with.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints.txt"
DEPLOY = REPO / "requirements-deploy.txt"
PYTHON = "3.11"


def compile_(output: Path, *args: str, upgrade: bool) -> None:
    command = [sys.executable, "-m", "uv", "pip", "compile", "pyproject.toml", "--universal"]
    command += ["--python-version", PYTHON, "--quiet", "--custom-compile-command", "python scripts/lock.py"]
    command += ["--output-file", str(output.relative_to(REPO)), *args]
    if upgrade:
        command.append("--upgrade")
    subprocess.run(command, cwd=REPO, check=True)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def seed_from_environment(output: Path) -> None:
    """uv prefers the pins already in its output file: add this interpreter's versions there."""
    pinned = {_normalise(m.group(1)) for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", _read(output), re.M)}
    installed = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and _normalise(name) not in pinned and _normalise(name) != "flipgen":
            installed[_normalise(name)] = dist.version
    lines = [f"{name}=={version}" for name, version in sorted(installed.items())]
    output.write_text(_read(output) + "\n".join(lines) + "\n", encoding="utf-8")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--upgrade", action="store_true", help="move every pin to the newest fitting release")
    args = parser.parse_args()
    if not args.upgrade:
        seed_from_environment(CONSTRAINTS)
    compile_(CONSTRAINTS, "--extra", "dev", "--no-annotate", upgrade=args.upgrade)
    # The deploy file takes its versions from constraints.txt: what CI tested is what ships.
    compile_(
        DEPLOY,
        "--extra",
        "postgres",
        "--extra",
        "redis",
        "--generate-hashes",
        "--constraint",
        CONSTRAINTS.name,
        upgrade=False,
    )
    print(f"wrote {CONSTRAINTS.name} and {DEPLOY.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
