// Statistics: a period picker, headline figures with human labels, charts (per day, per hour,
// response times, CSAT), the per-agent table and CSV downloads. An agent sees their own figures.
import { el, request } from "../api.js";
import { t } from "../i18n.js";
import { charts, csvButtons, headline, perAgent, tiles } from "../figures.js";
import { state } from "../state.js";
import { daysBack, guarded, localDay } from "./kit.js";

const PERIODS = [[1, "stats.today"], [7, "stats.7"], [30, "stats.30"]];
let chosen = 7;

export async function show(root) {
  const picker = el("select", { testid: "stats-period", "aria-label": t("stats.period") },
    ...PERIODS.map(([days, label]) => el("option", { value: String(days) }, t(label))));
  picker.value = String(chosen);
  const body = el("div", { class: "stats-body" });
  picker.addEventListener("change", () => { chosen = Number(picker.value); guarded(body, () => draw(body)); });
  const isAdmin = state.me.role === "admin";
  root.replaceChildren(el("div", { class: "page-head" }, el("h2", {}, isAdmin ? t("stats.title") : t("stats.mine")),
    el("label", {}, t("stats.period"), " ", picker)), body);
  await guarded(body, () => draw(body));
}

async function draw(body) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const query = `from=${daysBack(chosen - 1)}&to=${localDay()}&tz=${encodeURIComponent(zone)}`;
  const path = `/api/sessions/statistics?${query}`;
  const data = await request("GET", path);
  const block = headline(data);
  const live = data.live ? el("p", { class: "live-line" }, t("stats.live", { queued: data.live.queued,
    active: data.live.active, online: data.live.agents_online })) : null;
  body.replaceChildren(live, tiles(block), charts(data, block),
    el("h3", {}, t("stats.perAgent")), perAgent(data.per_agent || []), csvButtons(path, `statistics-${data.from}-${data.to}`));
}
