"""Build throughput against a floor measured in the same run, and the page weight.

    python benchmarks/build_bench.py [--sites N] [--rounds R]

Generates N sites like `sites/acme-income.yaml` and times the whole `flipgen build` process
(start-up included). The floor is the least any tool could do with the same input and
output: parse the same YAML files with PyYAML's C loader and write the very same output
files (same paths, same bytes). Rounds alternate build and floor; medians are printed.
"""

from __future__ import annotations

import argparse
import gzip
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def make_project(root: Path, n: int) -> None:
    source = (REPO / "sites" / "acme-income.yaml").read_text(encoding="utf-8")
    sites = root / "sites"
    shutil.copytree(REPO / "sites" / "acme-income", sites / "acme-income")
    for i in range(n):
        text = source.replace("Verify your income with Acme Lending", f"Verify your income with Acme Lending #{i}")
        text = text.replace("wtpl-demo-acme-0001", f"wtpl-demo-acme-{i:04d}")
        text = text.replace("title: About you", f"title: About you ({i})")
        (sites / f"acme-{i:04d}.yaml").write_text(text, encoding="utf-8")


def run_build(root: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flipgen.cli", "build", str(root), "-o", str(out), "-q"], check=True)
    return time.perf_counter() - started


def floor(root: Path, files: dict[str, bytes], out: Path) -> float:
    if out.exists():
        shutil.rmtree(out)
    started = time.perf_counter()
    for path in sorted((root / "sites").glob("*.yaml")):
        yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    made: set[Path] = set()
    for rel, data in files.items():
        target = out / rel
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        target.write_bytes(data)
    return time.perf_counter() - started


def page_weight(out: Path, slug: str) -> tuple[int, list[str]]:
    """gzip -9 bytes of the page's HTML plus the CSS and JS it references (not the Smile SDK)."""
    html = (out / slug / "index.html").read_text(encoding="utf-8")
    total = len(gzip.compress(html.encode(), 9))
    external = []
    for url in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html):
        if url.startswith(("http://", "https://")):
            external.append(url)
            continue
        if url.endswith((".js", ".css")):
            total += len(gzip.compress((out / slug / url).resolve().read_bytes(), 9))
    return total, external


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flipgen-bench-") as tmp:
        root = Path(tmp) / "project"
        make_project(root, args.sites)
        out = Path(tmp) / "dist"
        run_build(root, out)  # warm the file cache and check it builds
        files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        builds, floors = [], []
        for _ in range(args.rounds):
            builds.append(run_build(root, out))
            floors.append(floor(root, files, Path(tmp) / "floor"))
        b, f = statistics.median(builds), statistics.median(floors)
        n = args.sites
        print(f"sites: {n}, files written: {len(files)}, rounds: {args.rounds}")
        print(f"flipgen build (whole process): {b * 1000 / n:.2f} ms/site  (median {b:.2f} s)")
        print(f"floor (C-loader parse + same writes): {f * 1000 / n:.2f} ms/site  (median {f:.2f} s)")
        print(f"ratio build/floor: {b / f:.2f}x  (target <= 3x)")
        weight, external = page_weight(out, "acme-0000")
        print(f"acme-income page weight (HTML + own CSS + JS, gzip -9): {weight / 1024:.1f} KB  (target <= 14 KB)")
        print(f"third-party requests: {external or 'none'}")


if __name__ == "__main__":
    main()
