"""The wheel ships the built-in theme: install it outside the repo and use it from there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_installs_and_works_outside_the_repo(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
    )
    wheel = next(wheels.glob("flipgen-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "flipgen/site_templates/default/page.html" in names
    assert "flipgen/static/runtime/main.js" in names and "flipgen/sandbox/smile-emulator.js" in names
    assert "flipgen/starter/sites/welcome.yaml" in names
    assert "flipgen/py.typed" in names  # PEP 561: type checkers use the shipped hints

    # A fresh venv that borrows this interpreter's dependencies but not the editable checkout.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Every site-packages this interpreter sees (a venv with --system-site-packages has two).
    deps = [p for p in sys.path if p.endswith("site-packages")] or [sysconfig.get_paths()["purelib"]]
    (Path(site) / "deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )

    project = tmp_path / "elsewhere"
    shutil.copytree(REPO / "sites", project / "sites")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [str(py), "-c", "import flipgen; print(flipgen.__file__)"],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    assert str(env_dir) in where and str(REPO) not in where
    flipgen = env_dir / "bin" / "flipgen"
    check = subprocess.run([str(flipgen), "check"], cwd=project, capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "3 sites checked" in check.stdout
    built = subprocess.run([str(flipgen), "build", "-q"], cwd=project, capture_output=True, text=True, env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (project / "dist" / "acme-income" / "index.html").read_text().count("<section") == 5
