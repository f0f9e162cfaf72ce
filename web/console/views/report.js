// The daily report of one day (today's computed live): its figures, charts and CSV files.
import { el, request } from "../api.js";
import { charts, csvButtons, headline, perAgent, tiles } from "../figures.js";
import { t } from "../i18n.js";
import { guarded, localDay } from "./kit.js";

export async function show(root) {
  const day = el("input", { type: "date", value: new Date().toISOString().slice(0, 10), "aria-label": t("report.day"), max: localDay() });
  const body = el("div");
  day.addEventListener("change", () => guarded(body, () => draw(body, day.value)));
  root.replaceChildren(el("div", { class: "page-head" }, el("h2", { id: "report-title" }), el("label", {}, t("report.day"), " ", day)), body);
  await guarded(body, () => draw(body, day.value));
}

async function draw(body, date) {
  const path = `/api/analytics/report?date=${date}`;
  const data = await request("GET", path);
  document.getElementById("report-title").textContent =
    `${t("report.title", { date: data.date || date })}${data.partial ? ` ${t("report.running")}` : ""}`;
  const block = headline(data);
  body.replaceChildren(tiles(block), el("div", { testid: "report-chart" }, charts(data, block)),
    el("h3", {}, t("stats.perAgent")), perAgent(data.per_agent || []), csvButtons(path, `report-${date}`, ["summary", "hours"]));
}
