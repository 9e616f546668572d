"""How long `flipgen check` takes per site on a big project.

Generates N distinct sites modelled on sites/acme-income.yaml (own title, screen ids, field
ids and logo copy) into a temporary project, then times

  * the whole command as users run it: `python -m flipgen.cli check PROJECT -q` in a fresh
    process (interpreter start-up and imports included), and
  * `flipgen.checks.check_project` in this process,

each the median of --repeat runs, and prints milliseconds per site. Target: ≤ 1 ms/site.

    python benchmarks/check_bench.py            # 1,000 sites
    python benchmarks/check_bench.py -n 5000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "sites" / "acme-income.yaml"
SCREEN_IDS = ("about-you", "connect-gig", "connect-payroll", "upload-docs", "done")
FIELD_IDS = ("full_name", "work_type", "monthly_income")


def site_text(template: str, n: int) -> str:
    """The template with its own title, screen ids, field ids and logo folder."""
    text = template.replace(
        "title: Verify your income with Acme Lending", f"title: Verify your income with Acme Lending (branch {n})"
    )
    text = text.replace("acme-income/logo.svg", f"site-{n:05d}/logo.svg")
    for sid in SCREEN_IDS:
        text = re.sub(rf"(\b(?:id|goto|next): ){re.escape(sid)}\b", rf"\g<1>{sid}-{n}", text)
    for fid in FIELD_IDS:
        text = re.sub(rf"\b{fid}\b", f"{fid}_{n}", text)
    return text


def make_project(root: Path, count: int) -> None:
    sites = root / "sites"
    sites.mkdir(parents=True)
    template = TEMPLATE.read_text("utf-8")
    logo = REPO / "sites" / "acme-income" / "logo.svg"
    for n in range(count):
        (sites / f"site-{n:05d}").mkdir()
        shutil.copyfile(logo, sites / f"site-{n:05d}" / "logo.svg")
        (sites / f"site-{n:05d}.yaml").write_text(site_text(template, n), "utf-8")


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def time_cli(root: Path, cpu: list[float]) -> float:
    start, cpu_start = time.perf_counter(), _children_cpu()
    proc = subprocess.run(
        [sys.executable, "-m", "flipgen.cli", "check", str(root), "-q"], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    cpu.append(_children_cpu() - cpu_start)
    if proc.returncode != 0:
        raise SystemExit(f"flipgen check failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed


def time_in_process(root: Path, cpu: list[float] | None = None) -> tuple[float, int]:
    from flipgen.checks import check_project
    from flipgen.project import open_project

    start, cpu_start = time.perf_counter(), time.process_time()
    result = check_project(open_project(root))
    elapsed = time.perf_counter() - start
    if cpu is not None:
        cpu.append(time.process_time() - cpu_start)
    if not result.ok:
        raise SystemExit("\n".join(str(d) for d in result.errors[:20]))
    return elapsed, len(result.sites)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--sites", type=int, default=1000, help="number of sites (default 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is shown")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one in-process run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flipgen-check-bench-") as tmp:
        root = Path(tmp)
        make_project(root, args.sites)
        checked = time_in_process(root)[1]  # warm caches and make sure every site is valid
        assert checked == args.sites, checked
        cli_cpu: list[float] = []
        in_cpu: list[float] = []
        cli = statistics.median(time_cli(root, cli_cpu) for _ in range(args.repeat))
        inproc = statistics.median(time_in_process(root, in_cpu)[0] for _ in range(args.repeat))
        startup = statistics.median(
            _time(lambda: subprocess.run([sys.executable, "-m", "flipgen.cli", "--version"], capture_output=True))
            for _ in range(args.repeat)
        )
        n = args.sites
        print(f"sites: {n}  (median of {args.repeat})")
        # CPU time beside wall time: on a shared machine the wall clock also measures the neighbours.
        ccpu, icpu = statistics.median(cli_cpu), statistics.median(in_cpu)
        print(
            f"flipgen check (subprocess): {cli * 1000:8.1f} ms wall  {cli * 1000 / n:6.3f} ms/site"
            f"   (CPU {ccpu * 1000:8.1f} ms, {ccpu * 1000 / n:6.3f} ms/site)"
        )
        print(f"  of which start-up:        {startup * 1000:8.1f} ms wall (`flipgen --version`)")
        print(
            f"check_project (in process): {inproc * 1000:8.1f} ms wall  {inproc * 1000 / n:6.3f} ms/site"
            f"   (CPU {icpu * 1000:8.1f} ms, {icpu * 1000 / n:6.3f} ms/site)"
        )
        if args.profile:
            from flipgen.checks import check_project
            from flipgen.project import open_project

            profiler = cProfile.Profile()
            profiler.runcall(check_project, open_project(root))
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def _time(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
