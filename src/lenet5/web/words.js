// Every word the page shows, in English (as index.html is written) and in Chinese (the lab report's
// language): ?lang=en or ?lang=zh, else the first of the browser's languages that is one of them.
// `say(key, {name: value})` fills a phrase's {name}s. Both languages have every key (tests/test_web.py).
// The server's own messages (an error's detail) are English: the Chinese page quotes them as such.
"use strict";
const WORDS = {
  en: {
    title: "lenet5 — draw a digit",
    tagline: "draw a digit and watch LeNet-5 see it",
    loadingModel: "loading model…",
    draw: "Draw",
    padLabel: "drawing pad: draw a digit, or a few in a row, with mouse, finger or pen, or drop a photo here",
    undo: "Undo", redo: "Redo", clear: "Clear", choose: "Choose image…",
    hint: "Draw a digit on the pad (or a few in a row), or choose or drop a photo. <kbd>Ctrl</kbd>+<kbd>Z</kbd> undoes a stroke, " +
          "<kbd>Ctrl</kbd>+<kbd>Shift</kbd>+<kbd>Z</kbd> redoes it, <kbd>Esc</kbd> clears the pad.",
    prediction: "Prediction",
    progressLabel: "reading the image",
    seen: "What the model saw",
    seenLabel: "the 28 by 28 image the model read",
    seenNote: "28×28 after MNIST-style preprocessing: ink found, cropped, fitted into 20×20, centred by mass.",
    maps: "Feature maps",
    afterPooling: ", after pooling",
    served: "served by lenet5, no internet needed",
    otherLanguage: "中文", otherLang: "zh",
    drawADigit: "draw a digit",
    reading: "reading…",
    starting: "The server is starting: it is loading the model.",
    nothingDrawn: "Nothing drawn",
    readingFile: "Reading {name}…",
    readingSent: "Reading {name} (sent as {w}×{h}, {size})…",
    readingRaw: "Reading {name} ({size}; this browser cannot show it)…",
    noPreview: "no preview of this file",
    errDown: "Cannot reach the server. Is lenet5 serve still running? Trying again every {s} s.",
    errTooLarge: "This image is too large for the server. Choose a smaller photo (a long side of about 1000 pixels is plenty).",
    errTooLargeWhy: "This image is too large for the server: {detail}.",
    errBusy: "The server is busy. Trying again in {s} s.",
    errUnreadable: "The server could not read this image: {detail}.",
    errServer: "Something went wrong on the server (error {status}). Try again.",
    noAnswer: "no answer",
    saidNoAnswer: "No answer: {why}",
    noInkTitle: "no ink found",
    noInkPhoto: "No ink found in this photo: choose a photo of a digit written darker, or draw one.",
    noInk: "No ink found: draw a digit, or choose a photo of one.",
    saidNoInkPhoto: "Prediction: no ink found in this photo",
    saidNothing: "Prediction: nothing drawn yet",
    notDigit: "not a digit",
    probablyNotDigit: "not clearly a digit",
    sureNoDigit: "{p} sure this is no digit",
    noDigit: "{p} chance this is no digit",
    refusedFrom: "; the model answers “not a digit” from {p} on",
    leaveAGap: "Several digits? Leave a gap between them, and they are read as a number.",
    then: ". ",  // between two sentences the live region says
    ifDigit: "if it is a digit: {top}",
    sure: "{p} sure",
    orMaybe: "or maybe: {others}",
    saidDigit: "Prediction: {digit}, {p}",
    saidOrMaybe: "; or maybe {others}",
    saidNotDigit: "Prediction: {said}, {how}",
    numberDigits: "{n} digits: {each}",
    asOneDigit: "read as one digit: {one}",
    asOneRefused: "read as one digit: not a digit",
    digitAt: "{d} at {p}",
    numberNote: "Read as a row of digits, one at a time, left to right. The bars and feature maps are for one digit: draw a single digit to see them.",
    saidNumber: "Prediction: the number {number} ({each})",
    seenDigits: "the {n} images of 28 by 28 the model read, one for each digit",
    facts: "preset {preset} · {dataset} · test accuracy {acc} · {params} parameters",
    factsViews: " · each image read {n} ways ({views})",
    views: { "as drawn": "as drawn", "turned -10°": "turned -10°", "turned +10°": "turned +10°", "smaller": "smaller" },
    listed: ", ",
  },
  zh: {
    title: "lenet5 — 手写一个数字",
    tagline: "写一个数字，看 LeNet-5 怎样识别它",
    loadingModel: "正在加载模型…",
    draw: "手写",
    padLabel: "画板：用鼠标、手指或触控笔写一个数字（或一行几个数字），或把照片拖到这里",
    undo: "撤销", redo: "重做", clear: "清除", choose: "选择图片…",
    hint: "在画板上写一个数字（或一行几个数字），或选择、拖入一张照片。<kbd>Ctrl</kbd>+<kbd>Z</kbd> 撤销一笔，" +
          "<kbd>Ctrl</kbd>+<kbd>Shift</kbd>+<kbd>Z</kbd> 重做，<kbd>Esc</kbd> 清除画板。",
    prediction: "识别结果",
    progressLabel: "正在读取图像",
    seen: "模型看到的图像",
    seenLabel: "模型读取的 28×28 图像",
    seenNote: "按 MNIST 的方式预处理后的 28×28 图像：找到笔迹，裁剪，缩放到 20×20，按质心居中。",
    maps: "特征图",
    afterPooling: "，池化后",
    served: "由 lenet5 提供，无需联网",
    otherLanguage: "English", otherLang: "en",
    drawADigit: "写一个数字",
    reading: "正在识别…",
    starting: "服务器正在启动，正在加载模型。",
    nothingDrawn: "画板是空的",
    readingFile: "正在读取 {name}…",
    readingSent: "正在读取 {name}（以 {w}×{h}、{size} 发送）…",
    readingRaw: "正在读取 {name}（{size}；此浏览器无法显示它）…",
    noPreview: "无法预览此文件",
    errDown: "无法连接服务器。lenet5 serve 还在运行吗？每 {s} 秒重试一次。",
    errTooLarge: "图像太大，服务器不接收。请选择较小的照片（长边约 1000 像素就够了）。",
    errTooLargeWhy: "图像太大，服务器不接收（服务器的原话：{detail}）。",
    errBusy: "服务器繁忙，{s} 秒后重试。",
    errUnreadable: "服务器无法读取此图像（服务器的原话：{detail}）。",
    errServer: "服务器出错（错误 {status}），请重试。",
    noAnswer: "没有结果",
    saidNoAnswer: "没有结果：{why}",
    noInkTitle: "没有找到笔迹",
    noInkPhoto: "照片中没有找到笔迹：请选择字迹更深的数字照片，或直接手写一个。",
    noInk: "没有找到笔迹：请写一个数字，或选择一张数字的照片。",
    saidNoInkPhoto: "识别结果：照片中没有笔迹",
    saidNothing: "识别结果：画板是空的",
    notDigit: "不是数字",
    probablyNotDigit: "看不出是数字",
    sureNoDigit: "有 {p} 的把握这不是数字",
    noDigit: "不是数字的概率 {p}",
    refusedFrom: "（达到 {p} 即判为不是数字）",
    leaveAGap: "是几个数字吗？在数字之间留出空隙，就会读成一个数。",
    then: "。",
    ifDigit: "如果是数字：{top}",
    sure: "置信度 {p}",
    orMaybe: "也可能是：{others}",
    saidDigit: "识别结果：{digit}，{p}",
    saidOrMaybe: "；也可能是 {others}",
    saidNotDigit: "识别结果：{said}，{how}",
    numberDigits: "{n} 个数字：{each}",
    asOneDigit: "当作一个数字：{one}",
    asOneRefused: "当作一个数字读：不是数字",
    digitAt: "{d}（{p}）",
    numberNote: "按一行数字从左到右逐个识别。概率条和特征图只对应单个数字：写一个数字即可看到。",
    saidNumber: "识别结果：数字串 {number}（{each}）",
    seenDigits: "模型读取的 {n} 张 28×28 图像，每个数字一张",
    facts: "预设 {preset} · {dataset} · 测试准确率 {acc} · {params} 个参数",
    factsViews: " · 每张图像以 {n} 种方式读取（{views}）",
    views: { "as drawn": "原样", "turned -10°": "旋转 -10°", "turned +10°": "旋转 +10°", "smaller": "缩小" },
    listed: "、",
  },
};
const LANG = (() => {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked in WORDS) return asked;
  for (const l of navigator.languages || [navigator.language]) {
    const base = String(l).toLowerCase().split("-")[0];
    if (base in WORDS) return base;
  }
  return "en";
})();
// lenet5.views' names as the server gives them, in the page's language (a view this page does not know: its name).
const viewName = v => WORDS[LANG].views[v] ?? v;
function say(key, vars = {}) { return WORDS[LANG][key].replace(/\{(\w+)\}/g, (_, k) => vars[k]); }

// The page's fixed words: data-w (text), data-w-html (a trusted phrase with markup), data-w-label (aria-label).
function wordPage() {
  document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
  document.title = say("title");
  for (const el of document.querySelectorAll("[data-w]")) el.textContent = say(el.dataset.w);
  for (const el of document.querySelectorAll("[data-w-html]")) el.innerHTML = say(el.dataset.wHtml);
  for (const el of document.querySelectorAll("[data-w-label]")) el.setAttribute("aria-label", say(el.dataset.wLabel));
  const other = document.getElementById("language");
  other.textContent = say("otherLanguage"); other.href = "?lang=" + say("otherLang");
  other.lang = say("otherLang") === "zh" ? "zh-CN" : "en";
}
wordPage();
