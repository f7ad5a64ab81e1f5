"""Pen-up to answer on screen, in a real Chromium, with the bundled model (~1 minute).

    python benchmarks/bench_pen_up.py [--rounds 5]

Starts `lenet5 serve` on a free port, opens the page at 1280×800 and draws the browser test's ten
digits --rounds times (Clear between digits), one stroke at a time with the mouse, as
tests/test_web.py does. The time of each answer is measured in the page: performance.now() from
pointerup to the frame that shows it. The first round is reported on its own (before each lane
process warmed itself up at start, its first answer was ~130 ms slower), then the median, 90th
percentile and slowest of the other rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_server import start_server_default, stop  # noqa: E402
from test_web import CHROMIUM, CHROMIUM_ARGS, DIGITS, draw, open_page  # noqa: E402
from lenet5.errors import run_script  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    log = Path("/tmp/bench_pen_up.log")
    proc, base = start_server_default(log)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = open_page(browser, base)
            times = []
            for _ in range(args.rounds):
                for strokes in DIGITS.values():
                    page.click("#clear")
                    times.append(draw(page, strokes)["ms"])
            browser.close()
    finally:
        stop(proc)
    first, rest = times[:len(DIGITS)], sorted(times[len(DIGITS):])
    p90 = rest[int(0.9 * (len(rest) - 1))]
    print(f"first round after start, ms: {[round(t) for t in first]}; the other {len(rest)}: median "
          f"{statistics.median(rest):.0f} ms, p90 {p90:.0f} ms, slowest {rest[-1]:.0f} ms")


if __name__ == "__main__":
    run_script(main)
