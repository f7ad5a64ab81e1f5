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
// A drawing smaller than this share of the pad gets a hint to draw bigger: the pen's width fills its
// loops (a 3 a fifth of the pad high was read as 8, and most digits that small as no digit).
const SMALL_DRAWING = 0.25;
const SMALL_HINT = "Drawn small, the pen fills the loops: draw the digit bigger, across most of the pad.";
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
let generation = 0, seq = 0, shownSeq = 0, liveBusy = false, liveTimer = null, lastLive = -1e9;
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
function strokeStyle() { ctx.strokeStyle = "#fff"; ctx.lineWidth = PEN_WIDTH; ctx.lineCap = "round"; ctx.lineJoin = "round"; }
function redraw() {
  paintBlack(); strokeStyle();
  for (const s of strokes) {
    ctx.beginPath(); ctx.moveTo(s[0][0], s[0][1]);
    for (const [x, y] of s.slice(1)) ctx.lineTo(x, y);
    if (s.length === 1) ctx.lineTo(s[0][0] + 0.1, s[0][1]);
    ctx.stroke();
  }
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
  small.getContext("2d").drawImage(pad, 0, 0, SEND_SIDE, SEND_SIDE);
  return JSON.stringify({ image: small.toDataURL("image/png") });
}

function newGeneration() {  // the drawing changed under any request in flight: cancel them all
  generation++; clearTimeout(liveTimer); liveTimer = null;
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
  if (strokes.length) ask(canvasBody(), "final", performance.now()); else { showEmpty(); announce("Nothing drawn"); }
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
document.addEventListener("keydown", e => {
  if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
  const k = e.key.toLowerCase();
  if (k === "z" && !e.shiftKey) { e.preventDefault(); undo(); }
  else if ((k === "z" && e.shiftKey) || k === "y") { e.preventDefault(); redo(); }
});

// ---------------------------------------------------------------- asking the server
async function ask(body, kind, t0) {
  const id = ++seq, gen = generation, ctl = new AbortController();
  inflight.add(ctl);
  if (kind === "live") liveBusy = true;
  const json = typeof body === "string";
  try {
    const r = await fetch("/api/predict?features=true", { method: "POST", body, signal: ctl.signal,
      headers: json ? { "content-type": "application/json" } : {} });
    const answer = await r.json().catch(() => ({}));
    if (gen !== generation || id < shownSeq) return;  // cleared, undone or overtaken meanwhile
    shownSeq = id;
    if (!r.ok) { showError(r.status, answer.detail, r.headers.get("Retry-After")); return; }
    show(answer, kind);
    if (t0 !== undefined) requestAnimationFrame(() => recordFinal($("digit").textContent, performance.now() - t0));
  } catch (err) {
    if (err.name !== "AbortError" && gen === generation) showError(0, String(err));
  } finally {
    inflight.delete(ctl);
    if (kind === "live" && gen === generation) liveBusy = false;
  }
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
  showPending(`Reading ${file.name}…`);
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
    showPending(`Reading ${file.name} (sent as ${c.width}×${c.height}, ${kb(body.length * 0.75)})…`);
  } catch {  // the browser cannot decode it (TIFF, ...): let the server try the file as it is
    if (gen !== generation) return;  // cleared or drawn on while the browser tried
    body = new FormData(); body.append("file", file, file.name);
    ctx.fillStyle = "#9aa0a6"; ctx.font = `${Math.round(pad.width / 18)}px sans-serif`; ctx.textAlign = "center";
    ctx.fillText("no preview of this file", pad.width / 2, pad.height / 2);
    showPending(`Reading ${file.name} (${kb(file.size)}; this browser cannot show it)…`);
  }
  await ask(body, "photo");
}
const kb = n => n >= 1e6 ? (n / 1048576).toFixed(1) + " MB" : Math.ceil(n / 1024) + " KB";

// ---------------------------------------------------------------- showing
function setAnswer(state, text, confidence = "", alternatives = "", message = "") {
  $("result").dataset.state = state;
  $("digit").textContent = text; $("digit").classList.toggle("phrase", text.length > 1);
  $("confidence").textContent = confidence; $("alternatives").textContent = alternatives;
  $("message").textContent = message; $("progress").hidden = state !== "pending";
}
function announce(text) { $("announce").textContent = text; }
function clearPictures() { showBars(null); showSeen(null); showMaps(null); }

function showEmpty() { setAnswer("empty", "draw a digit"); clearPictures(); announce(""); }
function showPending(message) { setAnswer("pending", "reading…", "", "", message); clearPictures(); announce(message); }

function showError(status, detail, retryAfter) {
  const why = {
    0: "Cannot reach the server. Is lenet5 serve still running?",
    413: "This image is too large for the server. Choose a smaller photo (a long side of about 1000 pixels is plenty).",
    503: `The server is busy. Try again in ${retryAfter || "a few"} seconds.`,
  }[status] || (status < 500 ? `The server could not read this image: ${detail || "error " + status}.`
                             : `Something went wrong on the server (error ${status}). Try again.`);
  const said = status === 413 && detail ? `This image is too large for the server: ${detail}.` : why;
  setAnswer("error", "no answer", "", "", said);
  clearPictures(); announce("No answer: " + said);
}

// Whole percents; "100%" only when it is exactly 1, never for 99.6%.
const pct = p => (p < 1 ? Math.min(99, Math.round(100 * p)) : 100) + "%";
function topK(probs, k) { return probs.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, k); }

function drawingSide() {  // the drawing's larger side on the pad, ink included
  const pts = strokes.flat();
  if (!pts.length) return pad.width;
  const span = k => pts.reduce((m, p) => Math.max(m, p[k]), -Infinity) - pts.reduce((m, p) => Math.min(m, p[k]), Infinity);
  return Math.max(span(0), span(1)) + PEN_WIDTH;
}

function show(p, kind) {  // kind: "live" (the pen still moving), "final" or "photo"
  const final = kind !== "live", photo = kind === "photo";
  const hint = final && !photo && drawingSide() < SMALL_DRAWING * pad.width ? SMALL_HINT : "";
  if (p.reason === "blank") {
    const why = photo ? "No ink found in this photo: choose a photo of a digit written darker, or draw one."
                      : "No ink found: draw a digit, or choose a photo of one.";
    setAnswer("blank", "draw a digit", "", "", why);
    clearPictures(); if (final) announce(photo ? "Prediction: no ink found in this photo" : "Prediction: nothing drawn yet");
    return;
  }
  const named = ([q, i]) => `${classes[i] ?? i}\u00a0${pct(q)}`;  // a digit and its percent never split a line
  const top3 = topK(p.probabilities, 3).map(named).join(" · ");
  if (p.reason === "not a digit") {
    setAnswer("not-digit", "not a digit", `${pct(p.not_digit)} sure this is no digit`, `if it is a digit: ${top3}`, hint);
    if (final) announce("Prediction: not a digit" + (hint && ". " + hint));
  } else {
    const best = p.probabilities[p.label], unsure = best < UNSURE;
    const others = topK(p.probabilities, 3).filter(([, i]) => i !== p.label).slice(0, 2).map(named).join(" · ");
    setAnswer(unsure ? "unsure" : "answer", p.class_name, `${pct(best)} sure`, unsure ? `or maybe: ${others}` : "", hint);
    if (final) announce(`Prediction: ${p.class_name}, ${pct(best)}` + (hint && ". " + hint));
  }
  showBars(p.probabilities, p.label); showSeen(p.preprocessed); showMaps(p.features);
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

function showSeen(grid) {
  const c = $("seen");
  if (grid) paint(c, grid, 0, 1, gray); else c.getContext("2d").clearRect(0, 0, c.width, c.height);
}

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
    $("conv1-maps").textContent = mapCounts.conv1; $("conv2-maps").textContent = mapCounts.conv2;
    const acc = m.test_accuracy == null ? "?" : (100 * m.test_accuracy).toFixed(2) + "%";
    $("model-facts").textContent =
      `preset ${m.preset} · ${m.dataset} · test accuracy ${acc} · ${m.parameters.toLocaleString("en")} parameters` +
      (m.views && m.views.length > 1 ? ` · each image read ${m.views.length} ways (${m.views.join(", ")})` : "");
  } catch (err) { showError(0, String(err)); return; }
  showEmpty();
}
redraw();
loadModel();
