"""Edit-to-reload latency of `flipgen serve` on a generated 100-site project.

Two medians over 10 edits each:

* **SSE**: file write → the `build` event received by an SSE client (target ≤ 80 ms);
* **browser**: file write → the reloaded page showing the change in headless Chromium
  (target ≤ 150 ms).

References measured on the same machine: Eleventy 3.1.8 dev server 254 ms, MkDocs 1.6.1
about 1,000 ms (write → reloaded page).

    .venv/bin/python benchmarks/reload_bench.py [--sites 100] [--edits 10]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.support.serve import REPO, EventStream, Server, save  # noqa: E402

SOURCE = REPO / "sites" / "acme-income.yaml"


def make_project(root: Path, sites: int) -> list[Path]:
    """``sites`` copies of the acme-income example, each with its own logo folder."""
    text = SOURCE.read_text(encoding="utf-8")
    paths = []
    for i in range(sites):
        slug = f"site-{i:03d}"
        (root / "sites" / slug).mkdir(parents=True)
        shutil.copy(REPO / "sites" / "acme-income" / "logo.svg", root / "sites" / slug / "logo.svg")
        body = text.replace("acme-income/logo.svg", f"{slug}/logo.svg")
        body = re.sub(r"(?m)^title: .*$", f"title: Site {i} edit 0", body, count=1)
        path = root / "sites" / f"{slug}.yaml"
        path.write_text(body, encoding="utf-8")
        paths.append(path)
    return paths


def retitle(path: Path, title: str) -> None:
    text = path.read_text(encoding="utf-8")
    save(path, re.sub(r"(?m)^title: .*$", f"title: {title}", text, count=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--edits", type=int, default=10)
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if not chromium:
        sys.exit("chromium is required")
    with tempfile.TemporaryDirectory(prefix="flipgen-reload-bench-") as tmp:
        root = Path(tmp)
        paths = make_project(root, args.sites)
        target = paths[len(paths) // 2]
        slug = target.stem
        with Server(root) as server:
            print(server.output.splitlines()[0])
            stream = EventStream(server.port)
            stream.next("hello")
            sse = []
            for n in range(args.edits + 1):
                time.sleep(0.3)  # let the previous edit settle (debounce, disk mirror)
                stream.drain()
                started = time.perf_counter()
                retitle(target, f"SSE edit {n}")
                event = stream.next("build")
                if n:  # the first edit warms caches
                    sse.append((event.received - started) * 1000)
            stream.close()

            browser_ms: list[float] = []
            observed_ms: list[float] = []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(f"{server.base}/{slug}/")
                for n in range(args.edits + 1):
                    time.sleep(0.3)
                    page.wait_for_load_state("load")
                    title = f"Browser edit {n}"
                    wall = time.time() * 1000
                    started = time.perf_counter()
                    retitle(target, title)
                    page.wait_for_function("t => document.title === t", arg=title, polling="raf", timeout=20_000)
                    observed = (time.perf_counter() - started) * 1000
                    # When the reloaded page first painted, on the browser's own clock (same
                    # machine, wall time): free of Playwright's polling and IPC delays.
                    painted = page.evaluate("""() => new Promise(done => {
                        const read = () => {
                            const fcp = performance.getEntriesByName('first-contentful-paint')[0];
                            if (fcp) return done(performance.timeOrigin + fcp.startTime);
                            requestAnimationFrame(read);
                        };
                        read();
                    })""")
                    if n:
                        browser_ms.append(painted - wall)
                        observed_ms.append(observed)
                browser.close()
            rebuilds = [line for line in server.output.splitlines() if line.startswith(f"rebuilt {slug} in")]
        print(f"{args.sites} sites, {args.edits} edits of {slug}.yaml (rebuild log: {rebuilds[-1]})")
        print(
            f"write → SSE event      median {statistics.median(sse):6.1f} ms  "
            f"(min {min(sse):.1f}, max {max(sse):.1f}; target ≤ 80 ms)"
        )
        print(
            f"write → reloaded page  median {statistics.median(browser_ms):6.1f} ms  "
            f"(min {min(browser_ms):.1f}, max {max(browser_ms):.1f}; target ≤ 150 ms; "
            "first contentful paint of the new page, browser clock)"
        )
        print(
            f"  as seen by Playwright median {statistics.median(observed_ms):6.1f} ms  "
            "(includes its polling and IPC round trips)"
        )


if __name__ == "__main__":
    main()
