// The customer panel beside a conversation: who they are (verified or not), where they write from
// (page, referrer, language, local time, browser and OS as the server parsed them), what
// `identify` told, and their conversations, each openable.
import { el, request } from "../api.js";
import { dateTime, lang, t } from "../i18n.js";
import { emit, on, state } from "../state.js";

let root = null;
let shownFor = null;

export function mount(node) {
  root = node;
  on("customer", ({ sessionId, visitorId }) => show(sessionId, visitorId));
}

async function show(sessionId, visitorId) {
  shownFor = sessionId;
  if (!sessionId) {
    root.hidden = true;
    return;
  }
  if (!visitorId) {
    const session = await request("GET", `/api/sessions/${encodeURIComponent(sessionId)}`).catch(() => null);
    visitorId = session?.visitor?.id;
  }
  if (!visitorId || shownFor !== sessionId) return;
  let customer;
  try {
    customer = await request("GET", `/api/customers/${encodeURIComponent(visitorId)}?session_id=${encodeURIComponent(sessionId)}`);
  } catch (e) {
    root.hidden = true;
    return;
  }
  if (shownFor !== sessionId) return;
  root.hidden = false;
  root.replaceChildren(panel(customer, sessionId));
}

function localTime(zone) {
  if (!zone) return null;
  try {
    return new Date().toLocaleTimeString(lang, { timeZone: zone, hour: "2-digit", minute: "2-digit" }) + ` (${zone})`;
  } catch (e) {
    return zone;
  }
}

function named(part) {
  return part?.name ? [part.name, part.version].filter(Boolean).join(" ") : null;
}

function row(label, value, testid) {
  if (value === null || value === undefined || value === "") return null;
  return el("div", { class: "fact", testid }, el("dt", {}, label), el("dd", {}, value));
}

function link(url) {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return url;
    return el("a", { href: parsed.href, target: "_blank", rel: "noopener noreferrer" }, url);
  } catch (e) {
    return url;
  }
}

function panel(customer, currentId) {
  const context = customer.context || {};
  const page = context.page_url ? el("span", {}, context.page_title ? `${context.page_title} ` : "", link(context.page_url)) : null;
  const attributes = Object.entries(customer.attributes || {});
  const history = (customer.sessions || []).map((s) => el("li", {
    testid: "customer-history-item", "data-session-id": s.session_id, class: s.session_id === currentId ? "selected" : "",
    onclick: () => emit("open", { sessionId: s.session_id, readOnly: s.status !== "active" || s.agent?.id !== state.me.agent_id }),
  }, el("span", { class: "name" }, dateTime(s.created_at)),
  el("span", { class: "when" }, s.session_id === currentId ? t("cust.current") : s.agent?.name || "")));
  return el("section", { testid: "customer-panel", class: "customer-panel" },
    el("h2", {}, customer.name || t("visitor")),
    el("span", { class: customer.verified ? "badge ok" : "badge", testid: "customer-verified" },
      customer.verified ? t("cust.verified") : t("cust.unverified")),
    el("dl", {},
      row(t("cust.email"), customer.email, "customer-email"),
      row(t("cust.page"), page, "customer-page"),
      row(t("cust.referrer"), context.referrer ? link(context.referrer) : null, "customer-referrer"),
      row(t("cust.language"), context.language, "customer-language"),
      row(t("cust.localTime"), localTime(context.time_zone), "customer-local-time"),
      row(t("cust.browser"), named(customer.browser), "customer-browser"),
      row(t("cust.os"), named(customer.os), "customer-os")),
    attributes.length ? el("h3", {}, t("cust.attributes")) : null,
    attributes.length ? el("dl", {}, ...attributes.map(([k, v]) => row(k, typeof v === "object" ? JSON.stringify(v) : String(v)))) : null,
    el("h3", {}, t("cust.history")),
    history.length ? el("ul", { class: "list" }, ...history) : el("p", { class: "empty" }, t("cust.none")));
}
