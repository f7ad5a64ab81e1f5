"""Digits drawn small on the page, read by the bundled model in a real Chromium (~2 minutes).

    python benchmarks/bench_small_drawings.py [--scales 1,0.3,0.2,0.15,0.1]

Starts `lenet5 serve` on a free port, opens the page at 1280×800 and draws the browser test's ten
digits at each scale (their ~200-px span times it: 0.1 is a tenth of the 280-px pad), once in the
top-left corner and once in the bottom-right, Clear between them; prints how many of the 20 are read
as the digit drawn. Run it on two commits to compare the page's ways of sending a small drawing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_server import start_server_default, stop  # noqa: E402
from test_web import CHROMIUM, CHROMIUM_ARGS, DIGITS, draw, open_page  # noqa: E402
from lenet5.errors import run_script  # noqa: E402

SPAN, MARGIN = 200, 20  # the test digits' span on the pad, and the corner's margin (pad: 280 px)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,0.3,0.2,0.15,0.1")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    proc, base = start_server_default(Path("/tmp/bench_small_drawings.log"))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = open_page(browser, base)
            for scale in map(float, args.scales.split(",")):
                right = 0
                for corner in (MARGIN, 280 - MARGIN - SPAN * scale):
                    for digit, strokes in DIGITS.items():
                        page.click("#clear")
                        at = [[(corner + scale * (x - 40), corner + scale * (y - 40)) for x, y in s] for s in strokes]
                        right += draw(page, at)["text"] == str(digit)
                print(f"digits drawn at {scale:.0%} of the size: {right} of {2 * len(DIGITS)} read right", flush=True)
            browser.close()
    finally:
        stop(proc)


if __name__ == "__main__":
    run_script(main)
