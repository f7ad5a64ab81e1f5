// The lenet5 page: draw (pointer events: mouse, touch, pen), debounce, POST to /api/predict, show.
"use strict";
const DEBOUNCE_MS = 150;      // wait this long after the last stroke movement before asking
const PEN_WIDTH = 18;         // px on the 280-px canvas: about MNIST's stroke at 28 px
const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const strokes = [];           // each a list of [x, y]; kept for undo
let current = null, timer = null, inFlight = 0, classes = [];

function redraw() {
  ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height);
  ctx.strokeStyle = "#fff"; ctx.lineWidth = PEN_WIDTH; ctx.lineCap = "round"; ctx.lineJoin = "round";
  for (const s of strokes) {
    ctx.beginPath(); ctx.moveTo(s[0][0], s[0][1]);
    for (const [x, y] of s.slice(1)) ctx.lineTo(x, y);
    if (s.length === 1) ctx.lineTo(s[0][0] + 0.1, s[0][1]);
    ctx.stroke();
  }
}

function point(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}

pad.addEventListener("pointerdown", e => {
  pad.setPointerCapture(e.pointerId); current = [point(e)]; strokes.push(current); redraw(); schedule();
});
pad.addEventListener("pointermove", e => {
  if (!current) return; current.push(point(e)); redraw(); schedule();
});
for (const ev of ["pointerup", "pointercancel"]) pad.addEventListener(ev, () => { current = null; schedule(); });

document.getElementById("clear").onclick = () => { strokes.length = 0; redraw(); reset(); };
document.getElementById("undo").onclick = () => { strokes.pop(); redraw(); strokes.length ? schedule() : reset(); };

function schedule() { clearTimeout(timer); timer = setTimeout(sendCanvas, DEBOUNCE_MS); }

function setStatus(text, error) {
  const el = document.getElementById("status"); el.textContent = text; el.classList.toggle("error", !!error);
}

function reset() {
  document.getElementById("digit").textContent = "?";
  document.getElementById("confidence").textContent = "";
  showBars(null); showSeen(null); showMaps(null);
  setStatus("Draw a digit with mouse, finger or pen.");
}

function sendCanvas() {
  if (!strokes.length) return;
  pad.toBlob(blob => send(blob, "drawing.png"), "image/png");
}

async function send(blob, name) {
  const form = new FormData(); form.append("file", blob, name);
  const id = ++inFlight;
  try {
    const r = await fetch("/api/predict?features=true", { method: "POST", body: form });
    const body = await r.json();
    if (id !== inFlight) return;   // a newer drawing has been sent since
    if (!r.ok) { setStatus(body.detail || ("error " + r.status), true); return; }
    show(body);
  } catch (err) { setStatus("cannot reach the server: " + err, true); }
}

function show(p) {
  const best = p.probabilities[p.label];
  document.getElementById("digit").textContent = p.class_name;
  document.getElementById("confidence").textContent = (100 * best).toFixed(1) + "% sure";
  showBars(p.probabilities, p.label); showSeen(p.preprocessed); showMaps(p.features);
  setStatus("Prediction updated.");
}

function showBars(probs, top) {
  const el = document.getElementById("bars"); el.innerHTML = "";
  classes.forEach((c, i) => {
    const v = probs ? probs[i] : 0;
    const row = document.createElement("div"); row.className = "bar" + (i === top ? " top" : "");
    row.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>`;
    row.querySelector(".name").textContent = c;
    row.querySelector(".fill").style.width = (100 * v).toFixed(1) + "%";
    row.querySelector(".pct").textContent = probs ? (100 * v).toFixed(1) + "%" : "";
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
  const c = document.getElementById("seen");
  if (!grid) { c.getContext("2d").clearRect(0, 0, c.width, c.height); return; }
  paint(c, grid, 0, 1, gray);
}

function showMaps(features) {
  for (const [key, count] of [["conv1", 6], ["conv2", 16]]) {
    const el = document.getElementById(key); el.innerHTML = "";
    const maps = features ? features[key] : null;
    const flat = maps ? maps.flat(2) : [0];
    const lo = Math.min(...flat), hi = Math.max(...flat);   // one colour scale per layer
    for (let i = 0; i < count; i++) {
      const fig = document.createElement("figure"), c = document.createElement("canvas");
      if (maps) paint(c, maps[i], lo, hi, ramp); else { c.width = 1; c.height = 1; }
      fig.appendChild(c); fig.appendChild(document.createTextNode(key + "·" + i)); el.appendChild(fig);
    }
  }
}

// Choosing or dropping an image file sends it as it is: the server preprocesses it.
document.getElementById("file").onchange = e => { if (e.target.files[0]) sendFile(e.target.files[0]); };
const zone = document.getElementById("dropzone");
zone.addEventListener("dragover", e => { e.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", e => {
  e.preventDefault(); zone.classList.remove("over");
  if (e.dataTransfer.files[0]) sendFile(e.dataTransfer.files[0]);
});

function sendFile(file) {
  strokes.length = 0;
  const url = URL.createObjectURL(file), img = new Image();
  img.onload = () => {   // show the chosen image on the pad, fitted, for reference
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height);
    const s = Math.min(pad.width / img.width, pad.height / img.height);
    ctx.drawImage(img, (pad.width - img.width * s) / 2, (pad.height - img.height * s) / 2, img.width * s, img.height * s);
    URL.revokeObjectURL(url);
  };
  img.src = url;
  setStatus("Reading " + file.name + "…");
  send(file, file.name);
}

async function loadModel() {
  try {
    const m = await (await fetch("/api/model")).json();
    classes = m.classes;
    const acc = m.test_accuracy == null ? "?" : (100 * m.test_accuracy).toFixed(2) + "%";
    document.getElementById("model-facts").textContent =
      `preset ${m.preset} · ${m.dataset} · test accuracy ${acc} · ${m.parameters.toLocaleString()} parameters`;
  } catch (err) { setStatus("cannot load the model facts: " + err, true); }
  reset(); redraw();
}
loadModel();
