"""The drawing page in a real headless Chromium (Debian's), driven by Playwright."""

import math
import os
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from test_server import start_server

CHROMIUM = os.environ.get("LENET5_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOTS = ROOT / "artifacts"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page(trained_run):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    proc, base = start_server(trained_run)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
        pg.goto(base + "/")
        pg.wait_for_function("document.getElementById('model-facts').textContent.includes('parameters')")
        pg.errors = errors
        yield pg
        browser.close()
    proc.terminate()
    proc.wait(timeout=10)


def stroke(page, points):
    box = page.locator("#pad").bounding_box()
    to = lambda x, y: (box["x"] + x * box["width"] / 280, box["y"] + y * box["height"] / 280)
    page.mouse.move(*to(*points[0]))
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(*to(x, y), steps=2)
    page.mouse.up()


def prediction_becomes(page, text):
    page.wait_for_function(f"document.querySelector('[data-testid=prediction]').textContent === {text!r}",
                           timeout=15_000)


def test_the_page_shows_the_model_and_works_offline(page):
    facts = page.locator("#model-facts").text_content()
    assert "preset modern" in facts and "61,706 parameters" in facts and "test accuracy" in facts
    assert not page.errors  # every asset came from the server, nothing from a CDN
    assert page.locator(".bar").count() == 10


def test_drawing_a_1_and_then_a_0_shows_1_and_0_with_maps_and_the_seen_image(page):
    stroke(page, [(140, 40 + 4 * i) for i in range(51)])  # a vertical stroke
    prediction_becomes(page, "1")
    assert page.locator("#conv1 canvas").count() == 6 and page.locator("#conv2 canvas").count() == 16
    seen_lit = page.evaluate("""() => { const c = document.getElementById('seen');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] > 128; return n; }""")
    assert seen_lit > 20
    page.screenshot(path=str(_shot("web-one.png")), full_page=True)

    page.click("#clear")
    prediction_becomes(page, "?")
    loop = [(140 + 60 * math.sin(2 * math.pi * t / 60), 140 - 90 * math.cos(2 * math.pi * t / 60)) for t in range(62)]
    stroke(page, loop)
    prediction_becomes(page, "0")
    page.screenshot(path=str(_shot("web-zero.png")), full_page=True)
    assert not page.errors


def test_undo_removes_the_last_stroke(page):
    page.click("#clear")
    stroke(page, [(140, 40 + 4 * i) for i in range(51)])
    prediction_becomes(page, "1")
    stroke(page, [(60 + 4 * i, 150) for i in range(40)])  # a cross-bar changes the answer
    page.wait_for_function("document.querySelector('[data-testid=prediction]').textContent !== '1'", timeout=15_000)
    page.click("#undo")
    prediction_becomes(page, "1")


def test_choosing_an_image_file_predicts_it(page, tmp_path, data_dir):
    import numpy as np
    from lenet5 import data
    from lenet5.synth import paper_digit
    x, y = data.load_arrays("mnist", "test", data_dir)
    paper_digit(x[1], np.random.default_rng(0)).save(tmp_path / "two.jpg")
    page.set_input_files("#file", str(tmp_path / "two.jpg"))
    prediction_becomes(page, str(y[1]))


def _shot(name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS / name
