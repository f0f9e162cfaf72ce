// SVG charts drawn with DOM calls (no markup strings): bars and lines with labelled axes. Each is
// an <svg data-testid="stats-chart"> with a <title> saying what it shows.
const NS = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 220;
const PAD = { left: 44, right: 12, top: 16, bottom: 34 };
const COLOURS = ["#2f6fed", "#e67e22", "#27ae60", "#8e44ad"];

function node(tag, attrs = {}, text) {
  const made = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) made.setAttribute(key, String(value));
  if (text !== undefined) made.textContent = text;
  return made;
}

function frame(title, max, format) {
  const svg = node("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", class: "chart-svg", "data-testid": "stats-chart" });
  svg.append(node("title", {}, title));
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  for (const share of [0, 0.5, 1]) {
    const y = PAD.top + plotHeight * (1 - share);
    svg.append(node("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y, stroke: "#e1e6ef" }),
      node("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#66708a" }, format(max * share)));
  }
  return svg;
}

function xLabels(svg, labels, slot) {
  const every = Math.max(1, Math.ceil(labels.length / 12));
  labels.forEach((label, i) => {
    if (i % every) return;
    svg.append(node("text", { x: PAD.left + slot * (i + 0.5), y: HEIGHT - PAD.bottom + 16, "text-anchor": "middle",
      "font-size": 11, fill: "#66708a" }, label));
  });
}

// One series as bars: values[i] over labels[i].
export function barChart(title, labels, values, format = (v) => String(Math.round(v))) {
  const max = Math.max(1, ...values.map((v) => v || 0));
  const svg = frame(title, max, format);
  const slot = (WIDTH - PAD.left - PAD.right) / Math.max(1, values.length);
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  values.forEach((value, i) => {
    const h = plotHeight * (value || 0) / max;
    const bar = node("rect", { x: PAD.left + slot * i + slot * 0.15, y: PAD.top + plotHeight - h, width: slot * 0.7,
      height: h, fill: COLOURS[0], "data-label": labels[i], "data-value": value ?? "" });
    bar.append(node("title", {}, `${labels[i]}: ${value === null || value === undefined ? "–" : format(value)}`));
    svg.append(bar);
  });
  xLabels(svg, labels, slot);
  return svg;
}

// Several series as lines (null: no point), with a legend.
export function lineChart(title, labels, series, format = (v) => String(Math.round(v))) {
  const values = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
  const max = Math.max(1, ...values);
  const svg = frame(title, max, format);
  const slot = (WIDTH - PAD.left - PAD.right) / Math.max(1, labels.length);
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  series.forEach((s, n) => {
    const colour = COLOURS[n % COLOURS.length];
    const points = s.values.map((v, i) => (v === null || v === undefined ? null
      : [PAD.left + slot * (i + 0.5), PAD.top + plotHeight * (1 - v / max), v, labels[i]])).filter(Boolean);
    if (points.length > 1) {
      svg.append(node("polyline", { points: points.map((p) => `${p[0]},${p[1]}`).join(" "), fill: "none",
        stroke: colour, "stroke-width": 2 }));
    }
    for (const [x, y, v, label] of points) {
      const dot = node("circle", { cx: x, cy: y, r: 3.5, fill: colour, "data-value": v });
      dot.append(node("title", {}, `${s.name}, ${label}: ${format(v)}`));
      svg.append(dot);
    }
    svg.append(node("text", { x: PAD.left + 8 + n * 150, y: 12, "font-size": 11, fill: colour }, `— ${s.name}`));
  });
  xLabels(svg, labels, slot);
  return svg;
}

// Changes in percent, one bar each, up from or down to a zero line (null: no bar).
export function changeChart(title, labels, changes) {
  const max = Math.max(10, ...changes.map((v) => Math.abs(v || 0)));
  const svg = node("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", class: "chart-svg", "data-testid": "stats-chart" });
  svg.append(node("title", {}, title));
  const half = (HEIGHT - PAD.top - PAD.bottom) / 2;
  const zero = PAD.top + half;
  for (const share of [1, 0, -1]) {
    const y = zero - half * share;
    svg.append(node("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y, stroke: share ? "#e1e6ef" : "#9aa3b5" }),
      node("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#66708a" },
        `${share > 0 ? "+" : share < 0 ? "−" : ""}${share ? Math.round(max) : 0}%`));
  }
  const slot = (WIDTH - PAD.left - PAD.right) / Math.max(1, changes.length);
  changes.forEach((value, i) => {
    const h = half * Math.abs(value || 0) / max;
    const bar = node("rect", { x: PAD.left + slot * i + slot * 0.2, y: (value || 0) >= 0 ? zero - h : zero, width: slot * 0.6,
      height: h, fill: (value || 0) >= 0 ? COLOURS[0] : COLOURS[1], "data-label": labels[i], "data-value": value ?? "" });
    bar.append(node("title", {}, `${labels[i]}: ${value === null || value === undefined ? "–" : `${value > 0 ? "+" : ""}${value}%`}`));
    svg.append(bar);
  });
  xLabels(svg, labels, slot);
  return svg;
}
