"""The JavaScript side of the suite: Node's test runner on tests/js/*.test.mjs, ESLint and
Prettier at the versions package-lock.json pins (installed with `npm ci` when needed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flipgen import runtime
from tests.support import npm
from tests.support.npm import run_script

HERE = Path(__file__).parent


def test_node_suite() -> None:
    node = shutil.which("node")
    assert node, "Node.js (>= 20) is required for the JavaScript tests"
    files = sorted(str(p) for p in HERE.glob("*.test.mjs"))
    # The tests ask Python for the limits it emits into the journey data (tests/js/runtime.mjs).
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run([node, "--test", *files], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_eslint_recommended_is_clean() -> None:
    proc = run_script("lint")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_prettier_formatting() -> None:
    # package.json names the files: the JavaScript and CSS that ship, the Node tests, configs.
    proc = run_script("format:check")
    assert proc.returncode == 0, "run `npm run format`:\n" + proc.stdout + proc.stderr


def test_joined_runtime_parses_and_runs_without_a_journey(tmp_path: Path) -> None:
    # The script pages get: the units joined into one scope. It must parse, and on a page
    # without a journey block it must do nothing (not throw).
    script = tmp_path / "flip.js"
    script.write_text(runtime.runtime_source(), encoding="utf-8")
    probe = (
        "const vm = require('node:vm'), fs = require('node:fs');"
        "const document = { readyState: 'complete', getElementById: () => null };"
        "vm.runInNewContext(fs.readFileSync(process.argv[1], 'utf8'), { document, window: {} });"
        "console.log('ran');"
    )
    proc = subprocess.run(["node", "-e", probe, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ran", proc.stderr


def test_a_name_declared_in_two_units_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for unit in ("a", "b"):
        (tmp_path / f"{unit}.js").write_text(f"export function status() {{ return '{unit}'; }}\n", encoding="utf-8")
    monkeypatch.setattr(runtime, "RUNTIME_DIR", tmp_path)
    monkeypatch.setattr(runtime, "UNITS", ("a", "b"))
    with pytest.raises(RuntimeError, match=r"b\.js: `status` is already declared in a\.js"):
        runtime.runtime_source()


def test_an_import_the_join_cannot_handle_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.js").write_text('import x from "./b.js";\nexport default x;\n', encoding="utf-8")
    monkeypatch.setattr(runtime, "RUNTIME_DIR", tmp_path)
    monkeypatch.setattr(runtime, "UNITS", ("a",))
    with pytest.raises(RuntimeError, match="cannot join"):
        runtime.runtime_source()


def test_node_modules_count_as_installed_only_at_the_locked_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = {"packages": {"": {"name": "x"}, "node_modules/prettier": {"version": "3.10.1"}}}
    (tmp_path / "package-lock.json").write_text(json.dumps(lock), encoding="utf-8")
    monkeypatch.setattr(npm, "REPO", tmp_path)
    assert not npm._installed_as_locked()  # missing
    installed = tmp_path / "node_modules" / "prettier" / "package.json"
    installed.parent.mkdir(parents=True)
    installed.write_text('{"version": "3.9.0"}', encoding="utf-8")
    assert not npm._installed_as_locked()  # another version
    installed.write_text('{"version": "3.10.1"}', encoding="utf-8")
    assert npm._installed_as_locked()
