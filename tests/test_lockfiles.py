"""The lock files stay in step with pyproject.toml (regenerate both: `python scripts/lock.py`).

- constraints.txt pins every package `pip install -e '.[dev]'` asks for, so CI (`.ci/run`
  installs with `-c constraints.txt`) tests known versions;
- requirements-deploy.txt pins the token server's runtime dependencies, each with hashes, at
  the versions CI tested, and nothing that only tests need.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
RUNTIME_EXTRAS = ("postgres", "redis")
HINT = "pyproject.toml changed without the lock files: run `python scripts/lock.py`"


def names(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings, the project's own (`flipgen[...]`) left out."""
    found = {canonicalize_name(Requirement(r).name) for r in requirements}
    return found - {canonicalize_name(PYPROJECT["name"])}


def runtime() -> set[str]:
    deps = list(PYPROJECT["dependencies"])
    for extra in RUNTIME_EXTRAS:
        deps += PYPROJECT["optional-dependencies"][extra]
    return names(deps)


def pins(path: Path) -> dict[str, str]:
    """name -> pinned version; every requirement line in the file must be an exact `==` pin."""
    found: dict[str, str] = {}
    for line in path.read_text("utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "--")):
            continue
        requirement = Requirement(line.rstrip(" \\"))
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{path.name}: {line} is not an exact pin"
        found[canonicalize_name(requirement.name)] = spec.version
    return found


def test_constraints_pin_every_dependency_and_test_tool() -> None:
    wanted = runtime() | names([r for extra in PYPROJECT["optional-dependencies"].values() for r in extra])
    missing = wanted - set(pins(REPO / "constraints.txt"))
    assert not missing, f"{HINT} (unpinned: {sorted(missing)})"


def test_deploy_requirements_cover_the_runtime_with_hashes_and_nothing_else() -> None:
    text = (REPO / "requirements-deploy.txt").read_text("utf-8")
    deploy = pins(REPO / "requirements-deploy.txt")
    missing = runtime() - set(deploy)
    assert not missing, f"{HINT} (not in requirements-deploy.txt: {sorted(missing)})"
    # Each pinned requirement is followed by at least one sha256 of a published file.
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    for block in blocks:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), f"no hash for: {block.splitlines()[0]}"
    test_only = names(PYPROJECT["optional-dependencies"]["dev"]) - runtime()
    assert not test_only & set(deploy), f"test tools in the deploy file: {sorted(test_only & set(deploy))}"


def test_deploy_versions_are_the_ones_ci_tests() -> None:
    constraints, deploy = pins(REPO / "constraints.txt"), pins(REPO / "requirements-deploy.txt")
    differ = {
        name: (version, constraints.get(name)) for name, version in deploy.items() if constraints.get(name) != version
    }
    assert not differ, f"{HINT} (deploy vs constraints: {differ})"


def test_ci_installs_with_the_constraints() -> None:
    ci = (REPO / ".ci" / "run").read_text("utf-8")
    assert "-c constraints.txt" in ci and "-e '.[dev]'" in ci
