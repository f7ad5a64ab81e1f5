"""The drawing page in a real headless Chromium (Debian's), driven by Playwright.

The page is left alone while it works: tests wait on promises the page resolves itself
(`lenet5.waitFinals`), never on frame-by-frame polling, which would keep a real browser busier than
a person's. Pen-up-to-answer times are measured in the page (performance.now() from pointerup to
the frame that shows the answer) and written to artifacts/pen-up-latency.json.
"""

import json
import math
import os
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from PIL import Image
import pytest

from conftest import ROOT
from lenet5.synth import phone_photo
from test_server import start_server, stop

CHROMIUM = os.environ.get("LENET5_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# axe-core from npm (.ci/run installs it): `npm install --prefix build axe-core@4.14`
AXE = Path(os.environ.get("LENET5_AXE") or ROOT / "build" / "node_modules" / "axe-core" / "axe.min.js")
ARTIFACTS = ROOT / "artifacts"
MAX_BODY = 8_000_000
PEN_UP_MS = 100  # the target, from pen-up to the answer on screen
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}

pytestmark = pytest.mark.slow


def arc(cx, cy, rx, ry, a0, a1, n=24):
    """Points on an ellipse from angle a0 to a1 (degrees, 0 = right, 90 = down), pad coordinates (280²)."""
    return [(cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


def line(x0, y0, x1, y1, n=12):
    return [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(n + 1)]


DIGITS = {  # strokes of each digit as a person draws it
    0: [arc(140, 140, 62, 95, -90, 275, 40)],
    1: [line(145, 45, 140, 235, 20)],
    2: [arc(140, 95, 55, 50, 200, 380, 20) + line(192, 110, 85, 230, 16) + line(85, 230, 200, 230, 10)],
    3: [arc(135, 92, 55, 47, 200, 450, 24) + arc(135, 185, 60, 50, -90, 160, 24)],
    4: [line(165, 45, 80, 165, 14) + line(80, 165, 205, 165, 12), line(170, 105, 170, 240, 14)],
    5: [line(195, 50, 100, 50, 10) + line(100, 50, 92, 130, 8) + arc(140, 175, 60, 55, -140, 150, 26)],
    6: [arc(190, 150, 95, 105, -100, -175, 12) + arc(140, 180, 48, 50, 180, 540, 30)],
    7: [line(80, 50, 200, 50, 12) + line(200, 50, 120, 235, 18)],
    8: [arc(140, 92, 45, 47, 90, 450, 30) + arc(140, 182, 55, 53, -90, 270, 30)],
    9: [arc(140, 95, 52, 50, 0, 360, 30) + line(192, 95, 180, 240, 14)],
}
BAR = [line(60, 150, 220, 150, 16)]  # a cross-bar over a 1 makes it something else


@pytest.fixture(scope="module")
def served(trained_run, tmp_path_factory):
    proc, base = start_server(trained_run, "--max-body", str(MAX_BODY),
                              log=tmp_path_factory.mktemp("web") / "server.log")
    yield base
    stop(proc)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def open_page(browser, base, **context):
    """A fresh page on the app, with its errors and any non-loopback request recorded."""
    pg = browser.new_context(**(context or DESKTOP)).new_page()
    pg.errors, pg.outside = [], []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("request", lambda r: None if is_loopback(r.url) else pg.outside.append(r.url))
    pg.goto(base + "/")
    pg.wait_for_function("document.getElementById('model-facts').textContent.includes('mnist')")  # (in either language)
    return pg


@pytest.fixture
def page(browser, served):
    pg = open_page(browser, served)
    yield pg
    pg.context.close()


def is_loopback(url: str) -> bool:
    return urlparse(url).hostname in ("127.0.0.1", "localhost", "::1") or url.startswith(("data:", "blob:"))


def draw(page, strokes):
    """Each stroke with the mouse; returns how many pen-ups the page has answered so far, after each."""
    finals = []
    for s in strokes:
        n = page.evaluate("lenet5.finals.length") + 1
        pen(page, s)
        finals = wait_finals(page, n)
    return finals[-1]


def draw_no_wait(page, strokes):
    """The strokes with the mouse, not waiting for any answer."""
    for s in strokes:
        pen(page, s)


def pen(page, stroke):
    """One stroke with the mouse, in pad coordinates (280²)."""
    box = page.locator("#pad").bounding_box()
    to = lambda x, y: (box["x"] + x * box["width"] / 280, box["y"] + y * box["height"] / 280)
    page.mouse.move(*to(*stroke[0]))
    page.mouse.down()
    for x, y in stroke[1:]:
        page.mouse.move(*to(x, y))
    page.mouse.up()


FINALS_WAIT_MS = 60_000  # an answer that never comes fails the test instead of hanging the run


def wait_finals(page, n):
    """The first n answers to pen-ups (and undo/redo), awaited in the page: no polling."""
    return page.evaluate("""([n, ms]) => Promise.race([lenet5.waitFinals(n), new Promise((_, no) =>
        setTimeout(() => no(new Error(`${lenet5.finals.length} of ${n} answers came in ${ms} ms`)), ms))])""",
                         [n, FINALS_WAIT_MS])


def prediction(page) -> str:
    return page.locator("[data-testid=prediction]").text_content()


def test_the_page_loads_with_a_favicon_and_asks_nothing_outside(page):
    facts = page.locator("#model-facts").text_content()
    assert "preset modern" in facts and "61,706 parameters" in facts and "test accuracy" in facts
    assert page.locator(".bar").count() == 10 and prediction(page) == "draw a digit"
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.evaluate("u => Promise.all([fetch(u), fetch('/favicon.ico')]).then(rs => rs.map(r => r.status))",
                         icon) == [200, 200]
    assert not page.errors and not page.outside


def test_ten_digits_each_answered_within_100_ms_of_pen_up_with_the_page_left_alone(page):
    draw(page, DIGITS[1])  # the first answer warms the server's caches; it is not counted
    page.click("#clear")
    seen, times = [], []
    for digit, strokes in DIGITS.items():
        page.click("#clear")
        final = draw(page, strokes)
        seen.append(final["text"])
        times.append(round(final["ms"], 1))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "pen-up-latency.json").write_text(json.dumps({"digits": seen, "ms": times}, indent=1))
    print(f"pen-up to answer, ms: {times}", file=sys.stderr)
    assert seen == [str(d) for d in DIGITS]
    # The typical answer: a debounce or a queue behind other work puts every answer past it (the page
    # this replaced: ~1200 ms). Not the slowest one: on a shared CI machine one answer in ten can be
    # held up by other processes (seen: 190 ms among nine of 26-42 ms); benchmarks/bench_pen_up.py
    # measures the spread.
    assert np.median(times) <= PEN_UP_MS, times
    page.screenshot(path=str(shot("web-nine.png")), full_page=True)
    assert not page.errors and not page.outside


def test_the_answer_updates_while_the_pen_moves(page):
    box = page.locator("#pad").bounding_box()
    stroke = DIGITS[1][0]
    page.mouse.move(box["x"] + stroke[0][0] * box["width"] / 280, box["y"] + stroke[0][1] * box["height"] / 280)
    page.mouse.down()
    for x, y in stroke[1:]:
        page.mouse.move(box["x"] + x * box["width"] / 280, box["y"] + y * box["height"] / 280)
        page.wait_for_timeout(40)  # a person's pace: the stroke takes about a second
    assert prediction(page) == "1" and page.evaluate("lenet5.finals.length") == 0  # answered before pen-up
    page.mouse.up()
    assert wait_finals(page, 1)[0]["text"] == "1"


def test_clear_during_a_request_leaves_an_empty_result(page):
    held = []
    page.route("**/api/predict*", lambda route: held.append(route))  # the answer is late: hold it
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 140, box["y"] + 240, steps=5)
    page.mouse.up()
    for _ in range(500):  # until the browser's request reaches the route (a page round trip was not enough)
        if held:
            break
        page.wait_for_timeout(20)
    assert held
    page.click("#clear")
    for route in held:  # now the answers come, too late
        try:
            route.continue_()
        except Exception:  # already aborted by Clear: that is the point
            pass
    page.unroute("**/api/predict*")
    page.wait_for_timeout(500)
    assert prediction(page) == "draw a digit" and page.locator("#result").get_attribute("data-state") == "empty"
    assert page.evaluate("lenet5.finals.length") == 0
    assert page.evaluate("[...document.querySelectorAll('.bar .fill')].every(f => parseFloat(f.style.width) === 0)")


def test_undo_and_redo_are_offered_only_when_there_is_something_to_take_back_and_clear_can_be_undone(page):
    offered = lambda: [not page.locator(b).is_disabled() for b in ("#undo", "#redo")]
    assert offered() == [False, False]
    draw(page, DIGITS[1])
    assert offered() == [True, False]
    page.click("#undo")
    assert offered() == [False, True]
    assert page.evaluate("document.activeElement.id") == "redo"  # not lost to the page with the disabled Undo
    page.click("#redo")
    assert offered() == [True, False]
    wait_finals(page, 2)  # (an answer overtaken by Clear is rightly never shown: it would not count)
    page.click("#clear")  # beside Undo, and easily hit: it is taken back like any edit (it could not be)
    assert offered() == [True, False] and prediction(page) == "draw a digit"
    page.keyboard.press("Control+z")
    assert wait_finals(page, 3)[-1]["text"] == "1" and offered() == [True, True]
    page.keyboard.press("Control+Shift+z")
    assert prediction(page) == "draw a digit" and offered() == [True, False]
    assert page.locator("#announce").text_content() == "Nothing drawn"


def test_a_stroke_pressed_outside_the_pad_draws_from_where_it_enters(page):
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 145 / 280, box["y"] - 30)  # above the pad
    page.mouse.down()
    for y in range(20, 240, 20):
        page.mouse.move(box["x"] + box["width"] * 145 / 280, box["y"] + box["height"] * y / 280)
    page.mouse.up()
    page.wait_for_function("lenet5.finals.length >= 1", timeout=10_000)  # (it drew nothing: no answer came)
    assert wait_finals(page, 1)[-1]["text"] == "1"


def test_a_digit_drawn_small_is_read_as_the_same_digit_drawn_big(page):
    """(Drawn a fifth of the pad high, the pen's width filled the loops: a 3 was read as 8, and a
    browser user's digits at 15% were half misread.) Small drawings are sent enlarged, from their strokes."""
    big, small = [], []
    for digit, strokes in DIGITS.items():
        page.click("#clear")
        big.append(draw(page, strokes)["text"])
        page.click("#clear")
        small.append(draw(page, [[(30 + 0.2 * x, 200 + 0.2 * y) for x, y in s] for s in strokes])["text"])
    assert big == [str(d) for d in DIGITS] and small == big


def test_undo_and_redo_by_button_and_by_ctrl_z(page):
    assert draw(page, DIGITS[1])["text"] == "1"
    crossed = draw(page, BAR)["text"]
    assert crossed != "1"
    page.keyboard.press("Control+z")
    assert wait_finals(page, 3)[-1]["text"] == "1"
    page.keyboard.press("Control+Shift+z")
    assert wait_finals(page, 4)[-1]["text"] == crossed
    page.click("#undo")
    assert wait_finals(page, 5)[-1]["text"] == "1"
    page.click("#undo")
    assert prediction(page) == "draw a digit"
    assert page.locator("#announce").text_content() == "Nothing drawn"  # it said nothing


def test_ctrl_z_while_the_pen_is_down_takes_back_that_stroke_and_ends_it(page):
    """Undo in the middle of a stroke takes back the stroke so far; the rest of the drag, with the pen
    still held, draws nothing (it used to leave ink that Undo no longer knew of, answered as a 1)."""
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 140, box["y"] + 140, steps=5)
    page.keyboard.press("Control+z")
    page.mouse.move(box["x"] + 140, box["y"] + 240, steps=5)
    page.mouse.up()
    page.wait_for_timeout(300)
    lit = page.evaluate("""() => { const d = document.querySelector('#pad').getContext('2d')
        .getImageData(0, 0, 280, 280).data; let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] > 128; return n; }""")
    assert lit == 0 and prediction(page) == "draw a digit"
    assert page.locator("#result").get_attribute("data-state") == "empty"


def test_the_keyboard_reaches_every_control_and_the_live_region_speaks_the_answer(page, tmp_path):
    draw(page, DIGITS[7] + BAR)
    page.click("#undo")  # now Undo and Redo both have something to do, and the focus is on Undo
    wait_finals(page, 3)
    order = [page.evaluate("document.activeElement.id")]
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
    assert order == ["undo", "redo", "clear", "choose"]
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 13:15] = 255
    path = tmp_path / "one.png"
    from PIL import Image
    Image.fromarray(255 - np.kron(digit, np.ones((10, 10), np.uint8))).save(path)
    page.on("filechooser", lambda _: None)  # Playwright intercepts file choosers from now on: no race with Enter
    page.evaluate("1")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(path))
    page.wait_for_function("document.getElementById('result').dataset.state === 'answer'")
    assert prediction(page) == "1"
    assert re.fullmatch(r"Prediction: 1, \d+(\.\d)?%", page.locator("#announce").text_content())
    assert page.locator("#announce").get_attribute("aria-live") == "polite"


def test_a_phone_photo_of_several_megabytes_is_scaled_down_in_the_browser_and_read(page, tmp_path, data_dir):
    from lenet5 import data
    x, y = data.load_arrays("mnist", "test", data_dir)
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(phone_photo(x[0]))
    assert photo.stat().st_size > 3_000_000
    draw(page, DIGITS[1])
    sent = []
    page.on("request", lambda r: sent.append(len(r.post_data_buffer or b"")) if "/api/predict" in r.url else None)
    page.set_input_files("#file", str(photo))
    # The last answer is gone at once and progress shows, while the photo is read.
    assert page.locator("#result").get_attribute("data-state") == "pending"
    assert prediction(page) != "1" and page.locator("#progress").is_visible()
    page.wait_for_function("document.getElementById('result').dataset.state !== 'pending'", timeout=30_000)
    assert prediction(page) == str(y[0]), page.locator("#message").text_content()
    assert len(sent) == 1 and sent[0] < 1_500_000, sent  # 4000×3000 went as at most 1024×768
    page.screenshot(path=str(shot("web-photo.png")), full_page=True)


def test_a_transparent_png_of_black_ink_shows_on_the_pad_not_black_on_black(page, tmp_path):
    ink = np.zeros((120, 120, 4), np.uint8)
    ink[20:100, 52:68] = (0, 0, 0, 255)  # a black 1 on a fully transparent background
    photo = tmp_path / "one.png"
    Image.fromarray(ink, "RGBA").save(photo)
    page.set_input_files("#file", str(photo))
    page.wait_for_function("document.getElementById('result').dataset.state !== 'pending'", timeout=30_000)
    grey = page.evaluate("""() => { const d = document.getElementById('pad').getContext('2d')
        .getImageData(0, 0, 280, 280).data; let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] > 64; return n; }""")
    assert grey > 280 * 280 // 2, grey  # the image's area is laid on grey, its black ink visible on it
    assert prediction(page) == "1"


def test_a_photo_of_blank_paper_is_said_to_have_no_ink_not_that_nothing_was_drawn(page, tmp_path):
    paper = tmp_path / "paper.jpg"
    Image.new("RGB", (640, 480), (236, 234, 228)).save(paper)
    page.set_input_files("#file", str(paper))
    page.wait_for_function("document.getElementById('result').dataset.state === 'blank'", timeout=30_000)
    assert "No ink found in this photo" in page.locator("#message").text_content()
    assert page.locator("#announce").text_content() == "Prediction: no ink found in this photo"
    assert prediction(page) == "no ink found"  # (the heading said "draw a digit" under a photo)


def test_a_photo_dropped_beside_the_pad_is_read_not_opened_in_place_of_the_page(page):
    import io
    buf = io.BytesIO()
    Image.fromarray(np.pad(np.full((60, 12), 0, np.uint8), 60, constant_values=255)).save(buf, "PNG")
    prevented = page.evaluate("""bytes => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], "one.png", { type: "image/png" }));
        const panel = document.getElementById("result");  // the answer's panel, not the pad
        return ["dragover", "drop"].map(type => {
            const e = new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true });
            panel.dispatchEvent(e);
            return e.defaultPrevented;  // not prevented: the browser opens the file instead of the page
        });
    }""", list(buf.getvalue()))
    assert prevented == [True, True]
    page.wait_for_function("document.getElementById('result').dataset.state !== 'pending'", timeout=30_000)
    assert prediction(page) == "1"


def test_errors_are_said_in_words_in_the_result_panel_never_beside_a_stale_answer(page, tmp_path):
    draw(page, DIGITS[1])
    notes = tmp_path / "notes.png"
    notes.write_bytes(b"not an image at all\n" * 10)
    page.set_input_files("#file", str(notes))
    page.wait_for_function("document.getElementById('result').dataset.state === 'error'")
    assert prediction(page) == "no answer"
    assert "could not read this image: not an image" in page.locator("#message").text_content()
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x00" * (MAX_BODY + 1))  # the browser cannot decode it, so it is sent as it is: 413
    draw(page, DIGITS[1])
    page.set_input_files("#file", str(huge))
    page.wait_for_function("document.getElementById('result').dataset.state === 'error'")
    assert prediction(page) == "no answer"
    assert "too large" in page.locator("#message").text_content()
    assert page.evaluate("[...document.querySelectorAll('.bar .fill')].every(f => parseFloat(f.style.width) === 0)")
    assert page.locator("#announce").text_content().startswith("No answer:")


def test_the_page_asks_again_by_itself_when_the_server_comes_back(page):
    down = [True]

    def outage(route):
        route.abort("connectionrefused") if down[0] else route.continue_()
    page.route("**/api/predict*", outage)
    draw_no_wait(page, DIGITS[1])
    page.wait_for_function("document.getElementById('result').dataset.state === 'error'")
    assert "Trying again" in page.locator("#message").text_content()
    down[0] = False  # the server is back: the same drawing is answered, with no new stroke
    page.wait_for_function("document.getElementById('digit').textContent === '1'", timeout=10_000)
    assert page.locator("#message").text_content() == ""


def test_a_page_opened_before_the_server_answers_loads_the_model_once_it_does(browser, served):
    pg = browser.new_context(**DESKTOP).new_page()
    asked = []

    def starting(route):
        asked.append(route.request.url)
        route.abort("connectionrefused") if len(asked) == 1 else route.continue_()
    pg.route("**/api/model", starting)
    try:
        pg.goto(served + "/")
        pg.wait_for_function("document.getElementById('model-facts').textContent.includes('mnist')", timeout=10_000)
        assert prediction(pg) == "draw a digit" and len(asked) == 2
    finally:
        pg.context.close()


def test_while_a_slow_answer_comes_the_old_one_is_dimmed_and_marked_busy(page):
    """(The answer, its bars, what the model saw and the feature maps: all of them are the old drawing's.)"""
    draw(page, DIGITS[1])
    held = []
    page.route("**/api/predict*", lambda route: held.append(route))
    draw_no_wait(page, BAR)
    page.wait_for_function("document.body.dataset.waiting === 'true'")
    assert page.locator("#result").get_attribute("aria-busy") == "true" and prediction(page) == "1"
    for route in held:
        route.continue_()
    page.unroute("**/api/predict*")
    wait_finals(page, 2)
    assert page.locator("body").get_attribute("data-waiting") is None
    assert page.locator("#result").get_attribute("aria-busy") is None


def test_clear_while_the_browser_fails_to_decode_a_file_leaves_an_empty_result(page, tmp_path):
    # A file the browser cannot decode (TIFF, a broken JPEG) goes to the server as it is, once the
    # browser has failed: that failure, slowed down here, is a window in which the person clears the pad.
    page.evaluate("() => { window.createImageBitmap = () => new Promise((_, no) => setTimeout(() => no(Error('x')), 400)); }")
    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/api/predict" in r.url else None)
    photo = tmp_path / "three.png"
    Image.fromarray(np.pad(np.full((60, 12), 0, np.uint8), 60, constant_values=255)).save(photo)
    page.set_input_files("#file", str(photo))
    page.click("#clear")
    page.wait_for_timeout(1500)
    assert sent == [] and prediction(page) == "draw a digit"
    assert page.locator("#result").get_attribute("data-state") == "empty"


def test_a_first_answer_that_is_slow_says_reading_and_that_a_starting_server_is_loading_the_model(page):
    """(It showed "draw a digit", dimmed, under the drawing, and nothing about the server starting.)"""
    held = []
    page.route("**/healthz", lambda route: route.fulfill(status=503, headers={"Retry-After": "2"}, json={
        "detail": "starting (the model is loading); try again in 2 s"}))
    page.route("**/api/predict*", lambda route: held.append(route))
    draw_no_wait(page, DIGITS[7])
    page.wait_for_function("document.getElementById('message').textContent.includes('starting')")
    assert prediction(page) == "reading…" and page.locator("#result").get_attribute("aria-busy") == "true"
    for route in held:
        route.continue_()
    page.unroute("**/api/predict*")
    assert wait_finals(page, 1)[-1]["text"] == "7"
    assert page.locator("#message").text_content() == ""


def test_strokes_on_the_pad_draw_after_text_on_the_page_was_selected(page):
    """(Pressed on selected text, a stroke started the browser's drag of it: each stroke became a dot,
    and a 3 was read as 1.)"""
    heading, box = page.locator("#draw-title").bounding_box(), page.locator("#pad").bounding_box()
    page.mouse.move(heading["x"] + 2, heading["y"] + heading["height"] / 2)  # the heading dragged onto the pad
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    page.click("#clear")
    page.keyboard.press("Control+A")
    assert draw(page, DIGITS[3])["text"] == "3"


def test_the_page_draws_every_feature_map_the_served_model_has(page):
    # The served test model has 6 and 16 maps (/api/model says so); an answer with 8 and 24 is played back.
    page.route("**/api/predict*", lambda route: route.fulfill(content_type="application/json", body=json.dumps({
        **json.loads(canned([0, 1] + [0] * 8, label=1)),
        "features": {"conv1": [[[0.5] * 14] * 14] * 8, "conv2": [[[0.5] * 5] * 5] * 24}})))
    draw(page, DIGITS[1])
    page.wait_for_function("document.querySelectorAll('#conv2 figure').length === 24")
    assert page.locator("#conv1 figure").count() == 8
    page.click("#clear")  # no answer: as many empty places as /api/model said
    assert page.locator("#conv1 figure").count() == 6 and page.locator("#conv2-maps").text_content() == "16"


def canned(probabilities, label=None, reason=None, not_digit=None, number=None):
    """An answer of /api/predict; `number`: [the number, (label, top probability) of each digit]."""
    blank, answer = [[0.0] * 28] * 28, {"label": label, "class_name": None if label is None else str(label),
                                        "reason": reason, "probabilities": probabilities, "not_digit": not_digit}
    digits = [{"label": d, "class_name": str(d), "reason": None, "not_digit": 0.01, "preprocessed": blank,
               "probabilities": [q if i == d else (1 - q) / 9 for i in range(10)]} for d, q in (number or [None])[1:]]
    row = {"number": number[0], "confidence": float(np.prod([q for _, q in number[1:]])), "digits": digits} if number else None
    return json.dumps({**answer, "preprocessed": blank, "number": row})


@pytest.mark.parametrize("body, text, state, detail", [
    (canned(None, reason="blank"), "draw a digit", "blank", "No ink found"),
    (canned([0.05, 0, 0, 0.1, 0.6, 0, 0, 0.05, 0, 0.2], reason="not a digit", not_digit=0.93), "not a digit",
     "not-digit", "if it is a digit: 4\u00a060% · 9\u00a020% · 3\u00a010%"),  # a digit and its percent stay on one line
    (canned([0.05, 0, 0, 0.1, 0.6, 0, 0, 0.05, 0, 0.2], reason="not a digit", not_digit=0.45), "not clearly a digit",
     "not-digit", "45% chance this is no digit"),  # refused under 50%: not "45% sure", nor "probably"
    (canned([0, 0, 0, 0.1, 0.55, 0, 0, 0.05, 0, 0.3], label=4), "4", "unsure", "or maybe: 9\u00a030% · 3\u00a010%"),
    (canned([0, 0, 0, 0, 0.99, 0, 0, 0, 0, 0.01], label=4), "4", "answer", "99% sure"),
    (canned([0.05, 0, 0, 0.1, 0.6, 0, 0, 0.05, 0, 0.2], reason="not a digit", not_digit=0.7,
            number=["42", [4, 0.97], [2, 0.95]]), "42", "number", "2 digits: 4\u00a097% · 2\u00a095%"),
])
def test_blank_not_a_digit_and_unsure_answers_are_shown_as_such(page, body, text, state, detail):
    """The served test model has no "not a digit" output, so the server's answers are played back here."""
    page.route("**/api/predict*", lambda route: route.fulfill(status=200, content_type="application/json", body=body))
    draw(page, DIGITS[1])
    assert prediction(page) == text and page.locator("#result").get_attribute("data-state") == state
    assert detail in page.locator("#result").text_content()


def test_a_refused_drawing_wider_than_high_in_several_strokes_says_to_leave_a_gap(page):
    """(A browser user's "2024", its digits 14 px apart, was "not a digit" with no word why: the 18-px
    pen had joined them, so no row could be cut apart.)"""
    refused = canned([0.1] * 10, reason="not a digit", not_digit=0.9)
    page.route("**/api/predict*", lambda route: route.fulfill(status=200, content_type="application/json", body=refused))
    draw(page, DIGITS[4])  # two strokes, higher than wide: one refused shape
    assert prediction(page) == "not a digit" and "Leave a gap" not in page.locator("#message").text_content()
    page.click("#clear")
    draw(page, [line(30, 120, 130, 120), line(130, 100, 250, 170)])
    assert prediction(page) == "not a digit" and "Leave a gap" in page.locator("#message").text_content()
    assert "Leave a gap" in page.locator("#announce").text_content()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_refusal_s_words_stay_inside_their_box_on_a_320_px_phone(browser, served, lang):
    """("probably" ran 20 px out of its box, into the percent beside it, at 320 px.)"""
    page = open_page(browser, served, viewport={"width": 320, "height": 640}, locale="zh-CN" if lang == "zh" else "en-US")
    try:
        unsure = canned([0.05, 0, 0, 0.1, 0.6, 0, 0, 0.05, 0, 0.2], reason="not a digit", not_digit=0.45)
        page.route("**/api/predict*", lambda route: route.fulfill(status=200, content_type="application/json", body=unsure))
        page.evaluate("notDigitAt = 0.38")  # the bundled model's threshold (the test model has none): said beside it
        draw(page, DIGITS[1])
        assert page.locator("#result").get_attribute("data-state") == "not-digit"
        heading, about = page.locator("#digit"), page.locator(".about")
        assert heading.evaluate("e => e.scrollWidth <= e.clientWidth")
        assert heading.bounding_box()["x"] + heading.bounding_box()["width"] <= about.bounding_box()["x"]
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
    finally:
        page.context.close()


def test_escape_clears_the_pad_and_undo_brings_the_drawing_back(page):
    draw(page, DIGITS[1])
    assert prediction(page) == "1"
    page.keyboard.press("Escape")
    assert prediction(page) == "draw a digit" and page.locator("#undo").is_enabled()
    page.keyboard.press("Control+z")
    wait_finals(page, 2)
    assert prediction(page) == "1" and not page.errors


def test_the_file_chooser_offers_exactly_the_images_lenet5_reads(page):
    """(It offered every image, "image/*": an SVG was chosen and then refused.)"""
    from lenet5.preprocess import IMAGE_EXTENSIONS
    accept = page.locator("#file").get_attribute("accept").split(",")
    assert {a for a in accept if a.startswith(".")} == set(IMAGE_EXTENSIONS)
    assert all(a.startswith(".") or a in ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/tiff",
                                          "image/webp") for a in accept), accept


def test_a_row_of_digits_on_the_pad_is_read_as_a_number_and_undo_brings_back_the_single_digit(page):
    half = lambda strokes, cx: [[(cx + (x - 140) / 2, 140 + (y - 140) / 2) for x, y in s] for s in strokes]
    draw(page, half(DIGITS[1], 85))
    assert prediction(page) == "1" and page.locator(".bar.top").count() == 1
    final = draw(page, half(DIGITS[7], 195))
    assert final["text"] == "17" and page.locator("#result").get_attribute("data-state") == "number"
    result = page.locator("#result").text_content()
    assert "2 digits: 1" in result and "read as one digit:" in result and "feature maps are for one digit" in result
    assert page.locator("#seen").evaluate("c => [c.width, c.height]") == [58, 28]  # both digits, 2 columns apart
    assert page.locator(".bar.top").count() == 0 and page.locator("#conv1 canvas").first.evaluate("c => c.width") == 1
    assert "the number 17" in page.locator("#announce").text_content()
    page.screenshot(path=str(shot("web-number.png")), full_page=True)
    page.keyboard.press("Control+z")
    wait_finals(page, 3)
    assert prediction(page) == "1" and page.locator("#seen").evaluate("c => [c.width, c.height]") == [28, 28]
    assert not page.errors and not page.outside


@pytest.mark.parametrize("context", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_long_number_stays_on_one_line_inside_the_answer_panel(browser, served, context):
    """("2024" was shown as "20 / 24" and six digits on two lines: two numbers, to a reader.)"""
    page = open_page(browser, served, **context)
    six = canned([0.1] * 10, reason="not a digit", not_digit=0.9,
                 number=["314159", *[(d, 0.9) for d in (3, 1, 4, 1, 5, 9)]])
    page.route("**/api/predict*", lambda route: route.fulfill(status=200, content_type="application/json", body=six))
    draw(page, DIGITS[1])
    assert prediction(page) == "314159"
    lines = page.locator("#digit").evaluate("e => e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)")
    inside = page.evaluate("""() => { const d = document.getElementById('digit').getBoundingClientRect(),
                                            r = document.getElementById('result').getBoundingClientRect();
                                      return d.left >= r.left && d.right <= r.right; }""")
    assert round(lines) == 1 and inside
    assert page.locator("#bars").is_hidden() and "read as one digit: not a digit" in page.locator("#result").text_content()
    assert not page.errors and not page.outside
    page.context.close()


def test_the_page_speaks_chinese_when_the_browser_prefers_it_and_switches_by_its_link(browser, served):
    pg = open_page(browser, served, **DESKTOP, locale="zh-CN")
    try:
        words = pg.evaluate("WORDS")
        assert sorted(words["zh"]) == sorted(words["en"])
        assert pg.evaluate("document.documentElement.lang") == "zh-CN" and prediction(pg) == "写一个数字"
        draw(pg, DIGITS[1])
        assert pg.locator("#announce").text_content().startswith("识别结果：1，")
        shown = pg.locator("body").inner_text()
        english = [w for w in words["en"].values() if isinstance(w, str) and "{" not in w and "<" not in w and len(w) > 6]
        assert not [w for w in english if w in shown], shown  # every fixed word is in Chinese
        pg.click("#language")  # "English"
        pg.wait_for_function("document.documentElement.lang === 'en'")
        assert prediction(pg) == "draw a digit" and pg.locator("#draw-title").text_content() == "Draw"
        assert pg.locator("#language").text_content() == "中文" and not pg.errors
    finally:
        pg.context.close()


def touch_stroke(page, points):
    """A finger on a touch screen (CDP touch events: what a phone's browser receives)."""
    cdp = page.context.new_cdp_session(page)
    box = page.locator("#pad").bounding_box()
    at = [{"x": box["x"] + x * box["width"] / 280, "y": box["y"] + y * box["height"] / 280} for x, y in points]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [at[0]]})
    for p in at[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [p]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_a_tap_on_clear_just_after_a_quick_stroke_clears_the_pad_on_a_phone(browser, served):
    """(Chromium took such a tap for one that stops a fling: pointerdown and pointerup, no click.)"""
    page = open_page(browser, served, **PHONE)
    try:
        touch_stroke(page, [(140, 20 + 50 * i) for i in range(6)])  # 250 px, as fast as CDP sends it
        page.wait_for_timeout(250)
        page.locator("#clear").tap()
        page.wait_for_timeout(500)
        assert page.locator("#result").get_attribute("data-state") == "empty", prediction(page)
        page.locator("#undo").tap()  # Clear was done once, not twice: one Undo brings the stroke back
        page.wait_for_function("document.querySelector('[data-testid=prediction]').textContent === '1'")
        assert not page.errors
    finally:
        page.context.close()


@pytest.mark.parametrize("width", [1024, 1440, 1920])
def test_the_whole_pad_takes_ink_at_desktop_widths(browser, served, width):
    """The pad never runs out of its grid column under the next panel: a stroke along its right edge draws."""
    page = open_page(browser, served, viewport={"width": width, "height": 900})
    try:
        pad = page.locator("#pad").bounding_box()
        panel = page.locator("section.draw").bounding_box()
        assert pad["x"] + pad["width"] <= panel["x"] + panel["width"], (pad, panel)
        edge = pad["x"] + pad["width"] * 0.95
        assert page.evaluate(f"document.elementFromPoint({edge}, {pad['y'] + pad['height'] / 2}).id") == "pad"
        assert draw(page, [line(266, 40, 266, 240, 20)])["text"]  # a pen-up on the pad is answered
        assert not page.errors
    finally:
        page.context.close()


@pytest.mark.parametrize("width, height", [(844, 390), (667, 375)])
def test_the_pad_its_buttons_and_the_answer_are_on_the_screen_of_a_phone_held_sideways(browser, served, width, height):
    """(The buttons were below the screen at 844×390 and the answer too at 667×375; a finger on the pad
    cannot scroll the page.)"""
    page = open_page(browser, served, **{**PHONE, "viewport": {"width": width, "height": height}})
    try:
        pad = page.locator("#pad").bounding_box()
        assert pad["y"] + pad["height"] <= height and pad["width"] >= 200, pad
        assert draw(page, DIGITS[1])["text"] == "1"
        for el in ["#undo", "#redo", "#clear", "#choose", "#digit", "#confidence"]:
            b = page.locator(el).bounding_box()
            assert b["y"] + b["height"] <= height and b["x"] + b["width"] <= width, (el, b)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(shot(f"web-phone-sideways-{width}.png")))
    finally:
        page.context.close()


def test_a_second_finger_on_the_pad_neither_draws_nor_joins_the_first_finger_s_stroke(browser, served):
    """(Both fingers' moves went into one stroke, filling the space between them.)"""
    page = open_page(browser, served, **PHONE)
    try:
        cdp = page.context.new_cdp_session(page)
        box = page.locator("#pad").bounding_box()
        at = lambda x, y, i: {"x": box["x"] + x * box["width"] / 280, "y": box["y"] + y * box["height"] / 280, "id": i}
        touch = lambda kind, *points: cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": list(points)})
        touch("touchStart", at(70, 40, 0))
        touch("touchStart", at(70, 40, 0), at(210, 40, 1))  # a second finger comes down
        for y in range(50, 250, 10):
            touch("touchMove", at(70, y, 0), at(210, y, 1))
        touch("touchEnd")
        wait_finals(page, 1)
        lit = page.evaluate("""() => { const d = document.querySelector('#pad').getContext('2d')
            .getImageData(0, 0, 280, 280).data; const n = [0, 0, 0];
            for (let i = 0; i < d.length; i += 4) { const x = (i / 4) % 280; if (d[i] > 128) n[x < 105 ? 0 : x < 175 ? 1 : 2]++; }
            return n; }""")
        assert lit[0] > 2000 and lit[1] == 0 and lit[2] == 0, lit  # the first finger's line only
        assert not page.errors
    finally:
        page.context.close()


def test_a_touch_drawing_works_on_a_phone_and_everything_fits(browser, served):
    page = open_page(browser, served, **PHONE)
    try:
        pad = page.locator("#pad").bounding_box()
        assert abs(pad["width"] - 0.9 * 390) < 2 and abs(pad["height"] - pad["width"]) < 2
        touch_stroke(page, DIGITS[1][0])
        assert wait_finals(page, 1)[0]["text"] == "1"
        for target in page.locator("button").all() + page.locator("footer a").all():
            b = target.bounding_box()
            assert b["width"] >= 44 and b["height"] >= 44, target.text_content()  # (中文 was 32×40)
        # The answer and every bar sit on the first screen, under the pad; nothing scrolls sideways.
        assert page.locator("#digit").bounding_box()["y"] + 40 < 844
        last_bar = page.locator(".bar").last.bounding_box()
        assert last_bar["y"] + last_bar["height"] <= 844
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        labels = [f.bounding_box() for f in page.locator("#conv2 figure").all()]
        for a, b in zip(labels, labels[1:]):  # the conv2 labels do not overlap
            assert a["x"] + a["width"] <= b["x"] + 0.5 or a["y"] + a["height"] <= b["y"] + 0.5
        page.screenshot(path=str(shot("web-phone.png")))
        assert not page.errors
    finally:
        page.context.close()


@pytest.mark.parametrize("context, scheme", [(DESKTOP, "light"), (DESKTOP, "dark"), (PHONE, "light")])
def test_axe_finds_no_serious_or_critical_accessibility_violation(browser, served, context, scheme):
    if not AXE.is_file():
        pytest.fail(f"axe-core not found at {AXE}: npm install --prefix build axe-core@4.14 (.ci/run does)")
    page = open_page(browser, served, **context, color_scheme=scheme)
    try:
        draw(page, DIGITS[7])  # with an answer, bars and feature maps on the page
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
        assert not bad, bad
    finally:
        page.context.close()


CONTRAST = """([a, b]) => {  // WCAG contrast ratio of two computed colours
  const lum = c => { const [r, g, bl] = c.match(/[\\d.]+/g).slice(0, 3).map(v => v / 255)
      .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl; };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_bars_and_button_outlines_have_3_to_1_contrast(browser, served, scheme):
    """axe checks text; graphics need 3:1 against what surrounds them (WCAG 1.4.11)."""
    page = open_page(browser, served, **DESKTOP, color_scheme=scheme)
    try:
        draw(page, DIGITS[7])
        style = lambda sel, prop: page.eval_on_selector(sel, f"e => getComputedStyle(e).{prop}")
        card = style(".result", "backgroundColor")
        for fill in (".bar .fill", ".bar.top .fill"):
            for against in (style(".bar .track", "backgroundColor"), card):
                assert page.evaluate(CONTRAST, [style(fill, "backgroundColor"), against]) >= 3, (scheme, fill)
        assert page.evaluate(CONTRAST, [style("#undo", "borderTopColor"), card]) >= 3
        assert style("#pad", "outlineStyle") == "solid" and style("#pad", "outlineWidth") == "1px"  # the pad's edge
        assert page.evaluate(CONTRAST, [style("#pad", "outlineColor"), card]) >= 3
    finally:
        page.context.close()


def test_docs_and_redoc_render_and_docs_send_a_request_with_outside_requests_blocked(browser, served):
    context = browser.new_context(**DESKTOP)
    blocked = []

    def only_loopback(route):
        if is_loopback(route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    try:
        page.goto(served + "/docs")
        page.locator(".opblock").first.wait_for()
        assert page.locator(".opblock").count() == 3
        page.locator("#operations-default-healthz_healthz_get .opblock-summary").click()
        page.get_by_role("button", name="Try it out").click()
        page.get_by_role("button", name="Execute").click()
        status = page.locator(".live-responses-table tbody .response-col_status").first
        status.wait_for()
        assert status.text_content().strip().startswith("200")
        assert '"status": "ok"' in page.locator(".live-responses-table .microlight").first.text_content()
        page.screenshot(path=str(shot("docs.png")))
        assert not blocked, blocked  # Swagger UI did not even try to reach outside
        page.goto(served + "/redoc")
        page.get_by_text("/api/predict").first.wait_for()
        assert page.locator("h1").first.text_content().startswith("lenet5")
        # ReDoc's bundle would fetch its "API docs by Redocly" logo from cdn.redoc.ly: the page's
        # Content-Security-Policy stops the browser before the request is made.
        assert not blocked, blocked
    finally:
        context.close()


def shot(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
