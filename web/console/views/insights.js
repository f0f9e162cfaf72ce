// Insights: the last days against the days before, in plain language, with the figures behind them
// and a chart of how much each changed.
import { el, request } from "../api.js";
import { changeChart } from "../charts.js";
import { duration, t } from "../i18n.js";
import { table } from "./kit.js";

const DAYS = 7;
const LABELS = {
  volume: ["stats.started", (v) => String(v)],
  queue_wait: ["stats.wait", duration],
  first_response: ["stats.firstResponse", duration],
  resolution: ["stats.resolution", duration],
  csat: ["stats.csat", (v) => `${Math.round(v * 10) / 10} / 5`],
  abandonment: ["stats.abandoned", (v) => `${Math.round(v * 1000) / 10}%`],
};

export async function show(root) {
  const data = await request("GET", `/api/analytics/insights?days=${DAYS}`);
  const findings = (data.findings || []).map((f) => el("li", {}, typeof f === "string" ? f : f.text || f.metric || ""));
  const rows = Object.entries(data.figures || {}).filter(([name]) => LABELS[name]).map(([name, f]) => ({ name, ...f }));
  const shown = (name, value) => (value === null || value === undefined ? t("stats.none") : LABELS[name][1](value));
  root.replaceChildren(el("h2", {}, t("insights.title", { days: data.days || DAYS })),
    findings.length ? el("ul", { class: "findings" }, ...findings) : el("p", { class: "empty" }, t("insights.none")),
    rows.length ? el("figure", { class: "chart", testid: "insights-chart" }, el("figcaption", {}, t("insights.change")),
      changeChart(t("insights.change"), rows.map((r) => t(LABELS[r.name][0])), rows.map((r) => r.change_pct))) : null,
    table(rows, [
      { label: t("insights.figure"), cell: (r) => t(LABELS[r.name][0]) },
      { label: t("insights.now"), cell: (r) => shown(r.name, r.current) },
      { label: t("insights.before"), cell: (r) => shown(r.name, r.previous) },
      { label: t("insights.change"), cell: (r) => (r.change_pct === null || r.change_pct === undefined ? "–" : `${r.change_pct > 0 ? "+" : ""}${r.change_pct}%`) },
    ]));
}
