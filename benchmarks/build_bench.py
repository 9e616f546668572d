"""Build throughput against a floor measured in the same run, and the page weight.

    python benchmarks/build_bench.py [--sites N] [--rounds R]

Generates N sites like `sites/acme-income.yaml` and times the whole `flipgen build` process
(start-up included), twice: in one language, and in three (en, id, fil: each site with the
example's two translation overlays, so 3N pages). The floor is the least any tool could do with the same input and
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


LOCALES = re.compile(r"^locales:\n(?:  .*\n)+", re.M)
OVERLAYS = ("id", "fil")


def make_project(root: Path, n: int, translated: bool) -> None:
    source = (REPO / "sites" / "acme-income.yaml").read_text(encoding="utf-8")
    if not translated:
        source = LOCALES.sub("", source)
    assert ("locales:" in source) == translated
    sites = root / "sites"
    shutil.copytree(REPO / "sites" / "acme-income", sites / "acme-income")
    overlays = {lang: (REPO / "sites" / f"acme-income.{lang}.yaml").read_text(encoding="utf-8") for lang in OVERLAYS}
    for i in range(n):
        text = source.replace("Verify your income with Acme Lending", f"Verify your income with Acme Lending #{i}")
        text = text.replace("wtpl-demo-acme-0001", f"wtpl-demo-acme-{i:04d}")
        text = text.replace("title: About you", f"title: About you ({i})")
        (sites / f"acme-{i:04d}.yaml").write_text(text, encoding="utf-8")
        if translated:
            for lang, overlay in overlays.items():
                (sites / f"acme-{i:04d}.{lang}.yaml").write_text(overlay, encoding="utf-8")


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


def measure(tmp: Path, n: int, rounds: int, translated: bool) -> Path:
    """Build and floor timings of one case; returns the built output."""
    root = Path(tmp) / ("translated" if translated else "project")
    make_project(root, n, translated)
    out = Path(tmp) / f"dist-{root.name}"
    run_build(root, out)  # warm the file cache and check it builds
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    pages = sum(1 for rel in files if rel.endswith("index.html"))
    builds, floors = [], []
    for _ in range(rounds):
        builds.append(run_build(root, out))
        floors.append(floor(root, files, Path(tmp) / "floor"))
    b, f = statistics.median(builds), statistics.median(floors)
    langs = 1 + len(OVERLAYS) if translated else 1
    print(f"\n{n} sites x {langs} language(s): {pages} pages, {len(files)} files, rounds: {rounds}")
    print(
        f"flipgen build (whole process): {b * 1000 / n:.2f} ms/site, {b * 1000 / pages:.2f} ms/page  (median {b:.2f} s)"
    )
    print(f"floor (C-loader parse + same writes): {f * 1000 / pages:.2f} ms/page  (median {f:.2f} s)")
    print(f"ratio build/floor: {b / f:.2f}x  (target <= 3x)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flipgen-bench-") as tmp:
        out = measure(Path(tmp), args.sites, args.rounds, translated=False)
        weight, external = page_weight(out, "acme-0000")
        print(f"acme-income page weight (HTML + own CSS + JS, gzip -9): {weight / 1024:.1f} KB  (target <= 14 KB)")
        print(f"third-party requests: {external or 'none'}")
        out = measure(Path(tmp), args.sites, args.rounds, translated=True)
        for page in ("acme-0000", "acme-0000/id", "acme-0000/fil"):
            weight, _ = page_weight(out, page)
            print(f"{page}/ page weight (gzip -9, with CSS + JS): {weight / 1024:.1f} KB")


if __name__ == "__main__":
    main()
