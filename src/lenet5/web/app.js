// The lenet5 page: draw (pointer events: mouse, touch, pen), ask /api/predict, show the answer.
//
// Timing: the drawing is sent the moment the pen lifts (no debounce) and, throttled, while it moves.
// canvas.toDataURL is synchronous; canvas.toBlob waits for the browser to be idle (over a second on a
// quiet page), so it is not used. Every request carries a sequence number and the generation of the
// drawing: Clear, Undo, Redo and a new photo abort what is in flight, and any late answer is dropped.
"use strict";
const PEN_WIDTH = 18;        // px on the 280-px pad: about MNIST's stroke at 28 px
const LIVE_MS = 150;         // at most one live request per this while the pen moves
const UNSURE = 0.8;          // below this top probability, show the top 3
const PHOTO_SIDE = 1024;     // photos are scaled down in the browser to this long side before sending
// A drawing smaller than SMALL_DRAWING of the pad is sent enlarged to ENLARGED of it, drawn again from
// its strokes with the pen as wide as on the pad: drawn small, the pen's width filled the loops (a 3 a
// fifth of the pad high was read as 8, half the digits at 15% misread, nine in ten at 10%). The
// strokes, not the ink, are what was meant. At most MAX_ENLARGE times: a dot stays a dot.
const SMALL_DRAWING = 0.25, ENLARGED = 0.5, MAX_ENLARGE = 8;
const RETRY_S = 2;           // an answer the server could not give (down, restarting) is asked for again after this
const WAITING_MS = 150;      // an answer slower than this: the one shown is dimmed until it comes
// The drawing is sent at half the pad's size: the model sees 20 px of it, the answers are the same, and
// the server reads 140×140 about three times faster than 280×280.
const SEND_SIDE = 140;
const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const $ = id => document.getElementById(id);
// The pad's history: `done` holds what Undo takes back (a stroke, or a Clear with the strokes it
// removed), `undone` what Redo puts back; `strokes` is what the pad shows.
let strokes = [], done = [], undone = [], current = null, penId = null, classes = [];
const mapCounts = { conv1: 6, conv2: 16 };  // the served model's, once /api/model has answered
let generation = 0, seq = 0, shownSeq = 0, liveBusy = false, liveTimer = null, lastLive = -1e9, retryTimer = null;
let notDigitAt = null;  // the served model's "not a digit" threshold, once /api/model has answered
const inflight = new Set();  // AbortControllers of the requests in flight

// For people measuring the page (and tests/test_web.py): each answer to a pen-up, with the time from
// pointerup to the answer on screen, measured in the page itself.
const lenet5 = window.lenet5 = { finals: [], waiters: [],
  waitFinals(n) { return this.finals.length >= n ? Promise.resolve(this.finals.slice(0, n))
                                                  : new Promise(r => this.waiters.push([n, r])); } };
function recordFinal(text, ms) {
  lenet5.finals.push({ text, ms }); pad.dataset.answerMs = ms.toFixed(1);
  lenet5.waiters = lenet5.waiters.filter(([n, r]) => lenet5.finals.length >= n ? (r(lenet5.finals.slice(0, n)), false) : true);
}

// ---------------------------------------------------------------- drawing
function paintBlack() { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height); }
function strokeStyle(c = ctx, width = PEN_WIDTH) {
  c.strokeStyle = "#fff"; c.lineWidth = width; c.lineCap = "round"; c.lineJoin = "round";
}
function trace(c, at = p => p) {  // every stroke onto the context c, each point placed by `at`
  for (const s of strokes) {
    const [x0, y0] = at(s[0]);
    c.beginPath(); c.moveTo(x0, y0);
    for (const p of s.slice(1)) c.lineTo(...at(p));
    if (s.length === 1) c.lineTo(x0 + 0.1, y0);
    c.stroke();
  }
}
function redraw() { paintBlack(); strokeStyle(); trace(ctx); }
function extent() {  // the strokes' box on the pad, the pen's width left out: {cx, cy, side}, or null
  const pts = strokes.flat();
  if (!pts.length) return null;
  const [x0, x1, y0, y1] = pts.reduce(([a, b, c, d], [x, y]) => [Math.min(a, x), Math.max(b, x), Math.min(c, y), Math.max(d, y)],
                                      [Infinity, -Infinity, Infinity, -Infinity]);
  return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, side: Math.max(x1 - x0, y1 - y0), w: x1 - x0, h: y1 - y0 };
}
// Refused, in several strokes, half as wide again as high (the pen's width counted): digits written
// close together, whose ink the 18-px pen joined, so that no row of digits could be cut apart (a
// browser user's "2024" with 14-px gaps was "not a digit", with no word why).
function looksLikeJoinedDigits() {
  const box = extent();
  return strokes.length >= 2 && box.w + PEN_WIDTH >= 1.5 * (box.h + PEN_WIDTH);
}
function segment(a, b) { strokeStyle(); ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0] + (a === b ? 0.1 : 0), b[1]); ctx.stroke(); }
function point(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}

function startStroke(e) {
  if (!strokes.length) { paintBlack(); newGeneration(); }  // a photo on the pad (and its answer) give way
  pad.setPointerCapture(e.pointerId); penId = e.pointerId;
  current = [point(e)]; strokes.push(current); done.push(current); undone = [];
  segment(current[0], current[0]); syncButtons();
  lastLive = performance.now();  // the first live answer after LIVE_MS of drawing: a quick stroke needs none
  live();
}
// One pointer draws at a time: a second finger or a palm on the pad is ignored (it used to join the
// first finger's stroke, filling the space between them).
pad.addEventListener("pointerdown", e => { if (e.button <= 0 && !current) startStroke(e); });
pad.addEventListener("dragstart", e => e.preventDefault());  // (a stroke is never a drag of a selection: style.css)
pad.addEventListener("pointermove", e => {
  if (current && e.pointerId !== penId) return;
  // A mouse or pen pressed outside the pad and brought onto it draws from where it enters. (One pressed
  // on the pad holds its capture until lifted: after Ctrl+Z mid-stroke it draws no more.)
  if (!current && e.pointerType !== "touch" && (e.buttons & 1) && !pad.hasPointerCapture(e.pointerId)) startStroke(e);
  if (!current) return;
  for (const c of (e.getCoalescedEvents ? e.getCoalescedEvents() : [e])) {
    const p = point(c); segment(current[current.length - 1], p); current.push(p);
  }
  live();
});
for (const type of ["pointerup", "pointercancel"]) pad.addEventListener(type, e => {
  if (!current || e.pointerId !== penId) return;
  const t0 = performance.now();
  current = null; clearTimeout(liveTimer); liveTimer = null;
  ask(canvasBody(), "final", t0);
});

function live() {  // throttled: at most one request per LIVE_MS, and one at a time
  if (liveTimer) return;
  liveTimer = setTimeout(() => {
    liveTimer = null;
    if (current && !liveBusy) { lastLive = performance.now(); ask(canvasBody(), "live"); }
    else if (current) live();
  }, Math.max(0, lastLive + LIVE_MS - performance.now()));
}

const small = Object.assign(document.createElement("canvas"), { width: SEND_SIDE, height: SEND_SIDE });
function canvasBody() {
  const c = small.getContext("2d"), box = extent(), f = SEND_SIDE / pad.width;
  if (!box || box.side + PEN_WIDTH >= SMALL_DRAWING * pad.width) c.drawImage(pad, 0, 0, SEND_SIDE, SEND_SIDE);
  else {  // small: enlarged about the pad's centre, the pen as wide as on the pad
    const k = Math.min(MAX_ENLARGE, ENLARGED * pad.width / Math.max(1, box.side));
    c.fillStyle = "#000"; c.fillRect(0, 0, SEND_SIDE, SEND_SIDE); strokeStyle(c, PEN_WIDTH * f);
    trace(c, ([x, y]) => [(pad.width / 2 + k * (x - box.cx)) * f, (pad.height / 2 + k * (y - box.cy)) * f]);
  }
  return JSON.stringify({ image: small.toDataURL("image/png") });
}

function newGeneration() {  // the drawing changed under any request in flight: cancel them all
  generation++; clearTimeout(liveTimer); liveTimer = null; clearTimeout(retryTimer); retryTimer = null;
  for (const c of inflight) c.abort();
  inflight.clear(); liveBusy = false;
}
function syncButtons() {
  const focused = document.activeElement;
  $("undo").disabled = !done.length; $("redo").disabled = !undone.length;
  // The button pressed can disable itself (the last Undo): focus goes to its twin, not to the page.
  if (focused && focused.disabled) (focused === $("undo") ? $("redo") : $("undo")).focus();
}
function afterEdit() {  // also ends a stroke being drawn: the held pen draws no more until put down again
  current = null; newGeneration(); redraw(); syncButtons();
  if (strokes.length) ask(canvasBody(), "final", performance.now()); else { showEmpty(); announce(say("nothingDrawn")); }
}
function undo() {
  const a = done.pop(); if (!a) return;
  if (a.cleared) strokes = a.cleared; else strokes.pop();
  undone.push(a); afterEdit();
}
function redo() {
  const a = undone.pop(); if (!a) return;
  if (a.cleared) strokes = []; else strokes.push(a);
  done.push(a); afterEdit();
}
function clearAll() {  // undoable, as every edit: Clear sits beside Undo
  if (strokes.length) { done.push({ cleared: strokes }); strokes = []; undone = []; }
  afterEdit();
}
$("undo").onclick = undo;
$("redo").onclick = redo;
$("clear").onclick = clearAll;
// A tap on a button soon after a quick stroke came as pointerdown and pointerup but no click: Chromium
// took it for a tap that stops a fling (of a swipe that touch-action: none never let scroll). A touch
// tap acts on its pointerup, and the click that may follow it is dropped.
const TAP_CLICK_MS = 800;
for (const b of document.querySelectorAll(".buttons button")) {
  let tappedAt = -Infinity;
  b.addEventListener("pointerup", e => {
    const r = b.getBoundingClientRect();  // (a finger slid off the button lets go of it)
    if (e.pointerType !== "touch" || e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) return;
    tappedAt = performance.now(); b.click();
  });
  b.addEventListener("click", e => { if (e.isTrusted && performance.now() - tappedAt < TAP_CLICK_MS) e.stopImmediatePropagation(); }, true);
}
document.addEventListener("keydown", e => {
  if (e.key === "Escape" && !(e.ctrlKey || e.metaKey || e.altKey || e.shiftKey)) { e.preventDefault(); clearAll(); return; }
  if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
  const k = e.key.toLowerCase();
  if (k === "z" && !e.shiftKey) { e.preventDefault(); undo(); }
  else if ((k === "z" && e.shiftKey) || k === "y") { e.preventDefault(); redo(); }
});

// ---------------------------------------------------------------- asking the server
async function ask(body, kind, t0) {
  const id = ++seq, gen = generation, ctl = new AbortController();
  clearTimeout(retryTimer); retryTimer = null;  // a new question replaces one waiting to be asked again
  inflight.add(ctl);
  if (kind === "live") liveBusy = true;
  const json = typeof body === "string";
  const slow = kind === "live" ? null : setTimeout(() => { if (gen === generation && shownSeq < id) showWaiting(); }, WAITING_MS);
  try {
    // Read as a row of digits too at pen-up and for a photo, not while the pen moves: that costs a lane
    // process 1.8× the work (benchmarks/bench_number.py), and a live answer is a glimpse.
    const r = await fetch("/api/predict?features=true" + (kind === "live" ? "" : "&number=true"), { method: "POST", body, signal: ctl.signal,
      headers: json ? { "content-type": "application/json" } : {} });
    const answer = await r.json().catch(() => ({}));
    if (gen !== generation || id < shownSeq) return;  // cleared, undone or overtaken meanwhile
    shownSeq = id;
    if (!r.ok) {
      const after = r.headers.get("Retry-After");
      showError(r.status, answer.detail, after);
      if (r.status === 503 && kind !== "live") retry(body, kind, Number(after) || RETRY_S);
      return;
    }
    show(answer, kind);
    if (t0 !== undefined) requestAnimationFrame(() => recordFinal($("digit").textContent, performance.now() - t0));
  } catch (err) {
    if (err.name === "AbortError" || gen !== generation || id < shownSeq) return;
    shownSeq = id;
    showError(0, String(err));
    if (kind !== "live") retry(body, kind, RETRY_S);
  } finally {
    clearTimeout(slow);
    inflight.delete(ctl);
    if (kind === "live" && gen === generation) liveBusy = false;
  }
}

function retry(body, kind, seconds) {  // the same question again, unless the drawing changes first
  const gen = generation;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => { retryTimer = null; if (gen === generation) ask(body, kind); }, 1000 * seconds);
}

// ---------------------------------------------------------------- photos
$("choose").onclick = () => $("file").click();
$("file").onchange = e => { if (e.target.files[0]) readPhoto(e.target.files[0]); e.target.value = ""; };
// A photo dropped anywhere on the page is read (dropped beside the pad, the browser would open it in
// place of the page); the pad is outlined while one is dragged over the page.
const zone = $("dropzone");
document.addEventListener("dragover", e => { e.preventDefault(); zone.classList.add("over"); });
document.addEventListener("dragleave", e => { if (!e.relatedTarget) zone.classList.remove("over"); });
document.addEventListener("drop", e => {
  e.preventDefault(); zone.classList.remove("over");
  if (e.dataTransfer.files[0]) readPhoto(e.dataTransfer.files[0]);
});

async function readPhoto(file) {
  strokes = []; done = []; undone = []; newGeneration(); paintBlack(); syncButtons();
  const gen = generation;
  showPending(say("readingFile", { name: file.name }));
  let body;
  try {  // scale down here: a 12-MP photo becomes ~1 MP and a few hundred KB, EXIF orientation applied
    const bitmap = await createImageBitmap(file);
    const s = Math.min(1, PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
    const c = document.createElement("canvas");
    c.width = Math.max(1, Math.round(bitmap.width * s)); c.height = Math.max(1, Math.round(bitmap.height * s));
    c.getContext("2d").drawImage(bitmap, 0, 0, c.width, c.height);
    if (gen !== generation) return;
    paintBlack();
    const f = Math.min(pad.width / c.width, pad.height / c.height);
    const [x, y, w, h] = [(pad.width - c.width * f) / 2, (pad.height - c.height * f) / 2, c.width * f, c.height * f];
    ctx.fillStyle = "#808080"; ctx.fillRect(x, y, w, h);  // under a transparent PNG: black ink and white ink both show
    ctx.drawImage(c, x, y, w, h);
    body = JSON.stringify({ image: c.toDataURL(file.type === "image/png" ? "image/png" : "image/jpeg", 0.92) });
    showPending(say("readingSent", { name: file.name, w: c.width, h: c.height, size: kb(body.length * 0.75) }));
  } catch {  // the browser cannot decode it (TIFF, ...): let the server try the file as it is
    if (gen !== generation) return;  // cleared or drawn on while the browser tried
    body = new FormData(); body.append("file", file, file.name);
    ctx.fillStyle = "#9aa0a6"; ctx.font = `${Math.round(pad.width / 18)}px sans-serif`; ctx.textAlign = "center";
    ctx.fillText(say("noPreview"), pad.width / 2, pad.height / 2);
    showPending(say("readingRaw", { name: file.name, size: kb(file.size) }));
  }
  await ask(body, "photo");
}
const kb = n => n >= 1e6 ? (n / 1048576).toFixed(1) + " MB" : Math.ceil(n / 1024) + " KB";

// ---------------------------------------------------------------- showing
function setAnswer(state, text, confidence = "", alternatives = "", message = "") {
  $("result").dataset.state = state;
  $("digit").textContent = text; $("digit").classList.toggle("phrase", state !== "number" && text.length > 1);
  $("digit").style.setProperty("--digits", text.length);  // a number's font: smaller the longer it is (style.css)
  $("confidence").textContent = confidence; $("alternatives").textContent = alternatives;
  $("message").textContent = message; $("progress").hidden = state !== "pending";
  $("result").removeAttribute("aria-busy"); delete document.body.dataset.waiting;
}
function showWaiting() {  // the answer shown is for an older drawing: dimmed, the bar running, until the new one
  if ($("result").dataset.state === "empty") setAnswer("pending", say("reading"));  // not "draw a digit" under one
  document.body.dataset.waiting = "true"; $("result").setAttribute("aria-busy", "true"); $("progress").hidden = false;
  // A server that has just started answers once its processes have loaded the model (/healthz: 503): say so.
  fetch("/healthz").then(r => { if (r.status === 503 && document.body.dataset.waiting) $("message").textContent = say("starting"); })
    .catch(() => {});
}
function announce(text) { $("announce").textContent = text; }
function clearPictures() { showBars(null); showSeen(null); showMaps(null); }
const named = ([q, i]) => `${classes[i] ?? i}\u00a0${pct(q)}`;  // a digit and its percent never split a line

function showEmpty() { setAnswer("empty", say("drawADigit")); clearPictures(); announce(""); }
function showPending(message) { setAnswer("pending", say("reading"), "", "", message); clearPictures(); announce(message); }

function showError(status, detail, retryAfter) {
  const why = {
    0: say("errDown", { s: RETRY_S }),
    413: say("errTooLarge"),
    503: say("errBusy", { s: Number(retryAfter) || RETRY_S }),
  }[status] || (status < 500 ? say("errUnreadable", { detail: detail || "error " + status }) : say("errServer", { status }));
  const said = status === 413 && detail ? say("errTooLargeWhy", { detail }) : why;
  setAnswer("error", say("noAnswer"), "", "", said);
  clearPictures(); announce(say("saidNoAnswer", { why: said }));
}

// Whole percents; "100%" only when it is exactly 1, never for 99.6%.
const pct = p => (p < 1 ? Math.min(99, Math.round(100 * p)) : 100) + "%";
const floorPct = p => Math.floor(100 * p) + "%";
function topK(probs, k) { return probs.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, k); }

function show(p, kind) {  // kind: "live" (the pen still moving), "final" or "photo"
  const final = kind !== "live", photo = kind === "photo";
  if (p.reason === "blank") {
    setAnswer("blank", say(photo ? "noInkTitle" : "drawADigit"), "", "", say(photo ? "noInkPhoto" : "noInk"));
    clearPictures(); if (final) announce(say(photo ? "saidNoInkPhoto" : "saidNothing"));
    return;
  }
  if (p.number) { showNumber(p, final); return; }
  const top3 = topK(p.probabilities, 3).map(named).join(" · ");
  if (p.reason === "not a digit") {  // refused from the model's threshold, which can be under 50%
    const sure = p.not_digit >= 0.5, said = say(sure ? "notDigit" : "probablyNotDigit");
    // (under 50%, both rounded down: the score shown is never under the threshold it passed)
    const how = sure ? say("sureNoDigit", { p: pct(p.not_digit) })
                     : say("noDigit", { p: floorPct(p.not_digit) }) + (notDigitAt ? say("refusedFrom", { p: floorPct(notDigitAt) }) : "");
    const gap = !photo && looksLikeJoinedDigits() ? say("leaveAGap") : "";
    setAnswer("not-digit", said, how, say("ifDigit", { top: top3 }), gap);
    if (final) announce(say("saidNotDigit", { said, how }) + (gap ? say("then") + gap : ""));
  } else {
    const best = p.probabilities[p.label], unsure = best < UNSURE;
    const others = topK(p.probabilities, 3).filter(([, i]) => i !== p.label).slice(0, 2).map(named).join(" · ");
    setAnswer(unsure ? "unsure" : "answer", p.class_name, say("sure", { p: pct(best) }), unsure ? say("orMaybe", { others }) : "");
    if (final) announce(say("saidDigit", { digit: p.class_name, p: pct(best) }) + (unsure ? say("saidOrMaybe", { others }) : ""));
  }
  showBars(p.probabilities, p.label); showSeen(p.preprocessed); showMaps(p.features);
}

// A row of digits, each read as one (the server's `number`): the number, each digit's percent, and
// what the drawing as a whole read as one digit gave ("77" as one digit: a 7, 92% sure). The bars and
// feature maps belong to one digit: they are left empty, and "what the model saw" shows every digit.
function showNumber(p, final) {
  const n = p.number, tops = n.digits.map(d => [Math.max(...d.probabilities), d.label]);
  const each = tops.map(named).join(" · "), spoken = tops.map(([q, i]) => say("digitAt", { d: classes[i] ?? i, p: pct(q) }));
  const one = p.reason === "not a digit" ? say("asOneRefused") : say("asOneDigit", { one: named([p.probabilities[p.label], p.label]) });
  setAnswer("number", n.number, say("numberDigits", { n: n.digits.length, each }), one, say("numberNote"));
  if (final) announce(say("saidNumber", { number: n.number, each: spoken.join(say("listed")) }));
  showBars(null); showMaps(null); showSeen(n.digits.map(d => d.preprocessed));
}

function showBars(probs, top) {
  const el = $("bars"); el.replaceChildren();
  classes.forEach((c, i) => {
    const v = probs ? probs[i] : 0;
    const row = document.createElement("div"); row.className = "bar" + (i === top ? " top" : "");
    row.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>`;
    row.querySelector(".name").textContent = c;
    row.querySelector(".fill").style.width = (100 * v).toFixed(1) + "%";
    row.querySelector(".pct").textContent = probs ? pct(v) : "";
    el.appendChild(row);
  });
}

function paint(canvas, grid, lo, hi, colour) {
  const h = grid.length, w = grid[0].length;
  canvas.width = w; canvas.height = h;
  const c = canvas.getContext("2d"), img = c.createImageData(w, h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const t = hi > lo ? (grid[y][x] - lo) / (hi - lo) : 0, k = 4 * (y * w + x);
    const [r, g, b] = colour(Math.max(0, Math.min(1, t)));
    img.data[k] = r; img.data[k + 1] = g; img.data[k + 2] = b; img.data[k + 3] = 255;
  }
  c.putImageData(img, 0, 0);
}
const gray = t => [255 * t, 255 * t, 255 * t];
// A short viridis-like ramp: dark blue -> teal -> yellow, so low and high activations differ in hue too.
const ramp = t => t < 0.5 ? [68 + (33 - 68) * 2 * t, 1 + (145 - 1) * 2 * t, 84 + (140 - 84) * 2 * t]
                          : [33 + (253 - 33) * (2 * t - 1), 145 + (231 - 145) * (2 * t - 1), 140 + (37 - 140) * (2 * t - 1)];

function showSeen(grid) {  // one 28×28 grid, or a list of them (a number's digits), side by side
  const c = $("seen"), many = grid && Array.isArray(grid[0][0]);
  c.setAttribute("aria-label", many ? say("seenDigits", { n: grid.length }) : say("seenLabel"));
  if (many) grid = grid[0].map((_, y) => grid.flatMap((g, k) => k ? [SEEN_GAP, SEEN_GAP, ...g[y]] : g[y]));
  if (grid) paint(c, grid, 0, 1, gray);
  else { c.width = c.height = 28; c.getContext("2d").clearRect(0, 0, c.width, c.height); }
}
const SEEN_GAP = 0.3;  // the grey of the two columns between a number's digits in "what the model saw"

function showMaps(features) {
  for (const key of ["conv1", "conv2"]) {
    const el = $(key); el.replaceChildren();
    const maps = features ? features[key] : null;
    const count = maps ? maps.length : mapCounts[key];
    const flat = maps ? maps.flat(2) : [0];
    let lo = Infinity, hi = -Infinity;  // one colour scale per layer
    for (const v of flat) { if (v < lo) lo = v; if (v > hi) hi = v; }
    for (let i = 0; i < count; i++) {
      const fig = document.createElement("figure"), c = document.createElement("canvas");
      c.setAttribute("aria-hidden", "true");
      if (maps) paint(c, maps[i], lo, hi, ramp); else { c.width = 1; c.height = 1; }
      fig.appendChild(c); fig.appendChild(document.createTextNode(i)); el.appendChild(fig);
    }
  }
}

async function loadModel() {
  try {
    const m = await (await fetch("/api/model")).json();
    classes = m.classes;
    if (m.feature_maps) [mapCounts.conv1, mapCounts.conv2] = m.feature_maps;
    notDigitAt = m.not_digit_threshold ?? null;
    $("conv1-maps").textContent = mapCounts.conv1; $("conv2-maps").textContent = mapCounts.conv2;
    const acc = m.test_accuracy == null ? "?" : (100 * m.test_accuracy).toFixed(2) + "%";
    $("model-facts").textContent =
      say("facts", { preset: m.preset, dataset: m.dataset, acc, params: m.parameters.toLocaleString("en") }) +
      (m.views && m.views.length > 1 ? say("factsViews", { n: m.views.length, views: m.views.map(viewName).join(say("listed")) }) : "");
  } catch (err) { showError(0, String(err)); setTimeout(loadModel, 1000 * RETRY_S); return; }  // the server is not up yet
  if (strokes.length) ask(canvasBody(), "final"); else showEmpty();  // (drawn on while it was not: read now)
}
redraw();
loadModel();
