// What the page views share: a problem box, a table of rows, a period of days.
import { ApiError, el } from "../api.js";
import { t } from "../i18n.js";

export function problem(e) {
  if (e instanceof ApiError && e.status === 404) {
    return el("div", { class: "unavailable", testid: "not-available" }, t("unavailable"));
  }
  return el("div", { class: "unavailable", role: "alert" }, t("couldNotLoad", { error: e.message }));
}

// Runs a view's drawing; a failure shows as a problem box instead of an exception.
export async function guarded(root, draw) {
  try {
    await draw();
  } catch (e) {
    root.replaceChildren(problem(e));
  }
}

// columns: [{label, cell(row) -> Node|string}]; wrapped so a wide table scrolls alone on a phone.
export function table(rows, columns, attrs = {}) {
  if (!rows.length) return el("p", { class: "empty" }, t("nothing"));
  return el("div", { class: "table-wrap" }, el("table", attrs,
    el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", {}, c.label)))),
    el("tbody", {}, ...rows.map((row) => el("tr", { "data-row": row.id ?? "" }, ...columns.map((c) => el("td", {}, c.cell(row))))))));
}

export function localDay(date = new Date()) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 10);
}

export function daysBack(n) {
  return localDay(new Date(Date.now() - n * 86400000));
}
