// Figures of a period as people read them: headline tiles with human labels, charts, the
// per-agent table by name, CSV buttons. Shared by the statistics and report views.
import { el, requestBlob } from "./api.js";
import { barChart, lineChart } from "./charts.js";
import { duration, t } from "./i18n.js";
import { table } from "./views/kit.js";

const EMPTY = {
  sessions_started: 0, sessions_ended: 0, sessions_abandoned: 0, messages_visitor: 0, messages_agent: 0,
  queue_wait_s: {}, first_response_s: {}, resolution_s: {}, csat: { average: null, count: 0, distribution: {} },
};

function csatText(csat) {
  return csat?.count ? t("stats.csatOf", { average: Math.round(csat.average * 10) / 10, count: csat.count }) : t("stats.none");
}

// The block the headline shows: everyone's for admins, the agent's own otherwise.
export function headline(data) {
  return data.overall || data.per_agent?.[0] || EMPTY;
}

export function tiles(block) {
  const tile = (label, value, key) => el("div", { class: "tile", "data-figure": key }, el("span", { class: "label" }, label),
    el("b", {}, value));
  return el("div", { class: "tiles", testid: "stats-tiles" },
    tile(t("stats.started"), String(block.sessions_started), "sessions_started"),
    tile(t("stats.ended"), String(block.sessions_ended), "sessions_ended"),
    tile(t("stats.abandoned"), String(block.sessions_abandoned), "sessions_abandoned"),
    tile(t("stats.firstResponse"), duration(block.first_response_s?.median), "first_response_median"),
    tile(t("stats.resolution"), duration(block.resolution_s?.median), "resolution_median"),
    tile(t("stats.wait"), duration(block.queue_wait_s?.median), "queue_wait_median"),
    tile(t("stats.csat"), csatText(block.csat), "csat"));
}

function chartBox(title, svg) {
  return el("figure", { class: "chart" }, el("figcaption", {}, title), svg);
}

export function charts(data, block) {
  const days = data.days || [];
  const dayLabels = days.map((d) => d.date.slice(5));
  const hours = data.busiest_hours || [];
  const distribution = block.csat?.distribution || {};
  const parts = [];
  if (days.length > 1) {
    parts.push(chartBox(t("stats.perDay"), barChart(t("stats.perDay"), dayLabels, days.map((d) => d.sessions))));
    parts.push(chartBox(t("stats.responseTimes"), lineChart(t("stats.responseTimes"), dayLabels, [
      { name: t("stats.firstResponseLegend"), values: days.map((d) => d.first_response_median_s) },
      { name: t("stats.resolutionLegend"), values: days.map((d) => d.resolution_median_s) }], duration)));
    parts.push(chartBox(t("stats.csatTrend"), lineChart(t("stats.csatTrend"), dayLabels,
      [{ name: t("stats.csat"), values: days.map((d) => d.csat_average) }], (v) => (Math.round(v * 10) / 10).toString())));
  }
  parts.push(chartBox(t("stats.perHour"), barChart(t("stats.perHour"), hours.map((_, h) => String(h).padStart(2, "0")), hours)));
  parts.push(chartBox(t("stats.csatDistribution"), barChart(t("stats.csatDistribution"), ["1", "2", "3", "4", "5"],
    [1, 2, 3, 4, 5].map((n) => distribution[String(n)] || 0))));
  return el("div", { class: "charts" }, ...parts);
}

export function perAgent(rows) {
  return table(rows.map((r) => ({ ...r, id: r.agent_id })), [
    { label: t("stats.agent"), cell: (r) => r.agent_name || r.agent_id },
    { label: t("stats.started"), cell: (r) => String(r.sessions_started) },
    { label: t("stats.ended"), cell: (r) => String(r.sessions_ended) },
    { label: t("stats.messages"), cell: (r) => String(r.messages_agent) },
    { label: t("stats.firstResponse"), cell: (r) => duration(r.first_response_s?.median) },
    { label: t("stats.resolution"), cell: (r) => duration(r.resolution_s?.median) },
    { label: t("stats.csat"), cell: (r) => csatText(r.csat) },
    { label: t("stats.utilisation"), cell: (r) => (r.utilisation === null || r.utilisation === undefined ? t("stats.none")
      : `${Math.round(r.utilisation * 100)}%`) },
  ], { testid: "stats-agents" });
}

// One button per CSV table of the same query; the file is fetched with the agent's token.
export function csvButtons(path, name, tables = ["summary", "days", "hours"]) {
  return el("div", { class: "downloads" }, ...tables.map((table) => el("button", {
    type: "button", testid: "stats-csv", "data-table": table,
    onclick: async () => {
      const blob = await requestBlob(`${path}${path.includes("?") ? "&" : "?"}format=csv&table=${table}`);
      const link = el("a", { href: URL.createObjectURL(blob), download: `${name}-${table}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    },
  }, t("stats.csv", { table: t(`stats.table.${table}`) }))));
}
