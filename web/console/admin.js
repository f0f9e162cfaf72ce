// Admin views: agents, online users and connections, session statistics, today's report with its
// hourly chart, insights. Statistics, reports, insights, online users and connections come from
// issues 9 and 10: a 404 from a deployment without them shows "not available" instead of failing.
import { ApiError, el, request, requestBlob } from "./api.js";

const views = { agents, online, stats, report, insights };

export async function showAdminView(name, root) {
  root.replaceChildren(el("p", { class: "empty" }, "Loading…"));
  try {
    await views[name](root);
  } catch (e) {
    root.replaceChildren(problem(e));
  }
}

function problem(e) {
  if (e instanceof ApiError && e.status === 404) {
    return el("div", { class: "unavailable", testid: "not-available" },
      "Not available: this deployment of kefu does not offer this view yet.");
  }
  return el("div", { class: "unavailable", role: "alert" }, `Could not load: ${e.message}`);
}

// A table of rows (objects), or of one object's key/value pairs; every cell set as text.
function table(rows, columns) {
  if (!rows.length) return el("p", { class: "empty" }, "Nothing to show.");
  const cols = columns || Object.keys(rows[0]);
  return el("table", {},
    el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", {}, typeof c === "string" ? c : c.label)))),
    el("tbody", {}, ...rows.map((row) => el("tr", {}, ...cols.map((c) => {
      if (typeof c !== "string") return el("td", {}, c.render(row));
      return el("td", {}, show(row[c]));
    })))));
}

function pairs(object) {
  return table(Object.entries(object || {}).map(([key, value]) => ({ figure: key, value: show(value) })));
}

function show(value) {
  if (value === null || value === undefined) return "–";
  if (Array.isArray(value)) return value.map(show).join(", ");
  if (typeof value === "object") {
    // {avg, median, p90} and {average, count, distribution} read better as one line.
    return Object.entries(value).map(([k, v]) => `${k} ${typeof v === "number" ? round(v) : show(v)}`).join(" · ");
  }
  return typeof value === "number" ? String(round(value)) : String(value);
}

function round(n) {
  return Math.round(n * 100) / 100;
}

// ---- agents --------------------------------------------------------------------------------------

// The list comes from an index that shows a new agent only a moment later: an agent the console
// just created or changed is shown as the API returned it, whether or not the list has it yet.
async function agents(root, just = null) {
  const { agents: listed } = await request("GET", "/api/agents");
  const list = just && !listed.some((a) => a.agent_id === just.agent_id)
    ? [...listed, just].sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0))
    : listed;
  const form = el("form", { testid: "agent-create" },
    el("input", { name: "username", placeholder: "username", required: "" }),
    el("input", { name: "password", type: "password", placeholder: "password (8+)", required: "", minlength: "8" }),
    el("input", { name: "display_name", placeholder: "display name" }),
    el("select", { name: "role" }, el("option", { value: "agent" }, "agent"), el("option", { value: "admin" }, "admin")),
    el("input", { name: "max_concurrent", type: "number", min: "0", max: "1000", value: "5", class: "narrow" }),
    el("button", { type: "submit" }, "Create agent"),
    el("span", { class: "error", role: "alert" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try {
      const created = await request("POST", "/api/agents", { username: data.username, password: data.password,
        display_name: data.display_name || null, role: data.role, max_concurrent: Number(data.max_concurrent) });
      agents(root, created);
    } catch (e) {
      form.querySelector(".error").textContent = e.message;
    }
  });
  const patch = (agent, body) => request("PATCH", `/api/agents/${encodeURIComponent(agent.agent_id)}`, body)
    .then((changed) => agents(root, changed)).catch((e) => alert(e.message));
  root.replaceChildren(el("h2", {}, "Agents"), form, table(list, [
    "username", "display_name", "status", "active",
    { label: "capacity", render: (a) => el("input", { type: "number", min: "0", max: "1000", value: String(a.max_concurrent),
      class: "narrow", onchange: (e) => patch(a, { max_concurrent: Number(e.target.value) }) }) },
    { label: "role", render: (a) => {
      const select = el("select", { onchange: (e) => patch(a, { role: e.target.value }) },
        el("option", { value: "agent" }, "agent"), el("option", { value: "admin" }, "admin"));
      select.value = a.role;
      return select;
    } },
    { label: "", render: (a) => (a.disabled
      ? el("button", { type: "button", onclick: () => patch(a, { disabled: false }) }, "Enable")
      : el("button", { type: "button", onclick: () => patch(a, { disabled: true }) }, "Disable")) },
  ]));
}

// ---- online users and connections ------------------------------------------------------------

async function online(root) {
  const [users, connections] = await Promise.allSettled([
    request("GET", "/api/system/online-users"), request("GET", "/api/connections")]);
  const parts = [el("h2", {}, "Online users")];
  if (users.status === "fulfilled") {
    const rows = users.value.users || [];
    const columns = rows.length ? Object.keys(rows[0]) : [];
    parts.push(table(rows, [...columns, { label: "", render: (u) => el("button", { type: "button", testid: "disconnect-user",
      onclick: async () => {
        await request("POST", `/api/users/${encodeURIComponent(u.user_id)}/disconnect`, {}).catch((e) => alert(e.message));
        online(root);
      } }, "Disconnect all") }]));
  } else {
    parts.push(problem(users.reason));
  }
  parts.push(el("h2", {}, "Connections"));
  if (connections.status === "fulfilled") {
    const rows = connections.value.connections || [];
    const columns = rows.length ? Object.keys(rows[0]) : [];
    parts.push(table(rows, [...columns, { label: "", render: (c) => el("button", { type: "button", testid: "disconnect-connection", onclick: async () => {
      await request("DELETE", `/api/connections/${encodeURIComponent(c.connection_id)}`).catch((e) => alert(e.message));
      online(root);
    } }, "Disconnect") }]));
  } else {
    parts.push(problem(connections.reason));
  }
  root.replaceChildren(...parts);
}

// ---- statistics, report, insights --------------------------------------------------------------

function figures(block) {
  return pairs(Object.fromEntries(Object.entries(block || {}).map(([k, v]) => [k, v])));
}

async function stats(root) {
  const data = await request("GET", "/api/sessions/statistics");
  root.replaceChildren(el("h2", {}, "Session statistics (today)"),
    el("h3", {}, "Live"), figures(data.live), el("h3", {}, "Overall"), figures(data.overall),
    el("h3", {}, "Per agent"), table(data.per_agent || []));
}

function today() {
  return new Date().toISOString().slice(0, 10);
}

async function report(root) {
  const data = await request("GET", `/api/analytics/report?date=${today()}`);
  const chart = el("div", { class: "chart", testid: "report-chart" });
  try {
    // The server's own chart, shown as an image: an SVG in <img> runs no script.
    const blob = await requestBlob(`/api/analytics/report?date=${today()}&format=svg`);
    chart.append(el("img", { src: URL.createObjectURL(blob), alt: "Sessions and wait per hour" }));
  } catch (e) {
    chart.append(hourlyChart(data.busiest_hours || data.overall?.busiest_hours || []));
  }
  root.replaceChildren(el("h2", {}, `Report for ${data.date || today()}${data.partial ? " (day still running)" : ""}`),
    chart, el("h3", {}, "Overall"), figures(data.overall), el("h3", {}, "Per agent"), table(data.per_agent || []));
}

// 24 bars drawn with DOM calls (no markup strings).
function hourlyChart(counts) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const width = 24 * 24 + 40;
  const height = 180;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("role", "img");
  const max = Math.max(1, ...counts);
  counts.forEach((count, hour) => {
    const bar = document.createElementNS(ns, "rect");
    const h = (count / max) * (height - 40);
    bar.setAttribute("x", String(30 + hour * 24));
    bar.setAttribute("y", String(height - 20 - h));
    bar.setAttribute("width", "18");
    bar.setAttribute("height", String(h));
    bar.setAttribute("fill", "#2f6fed");
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", String(30 + hour * 24 + 9));
    label.setAttribute("y", String(height - 6));
    label.setAttribute("font-size", "9");
    label.setAttribute("text-anchor", "middle");
    label.textContent = String(hour);
    svg.append(bar, label);
  });
  return svg;
}

async function insights(root) {
  const data = await request("GET", "/api/analytics/insights?days=7");
  const findings = (data.findings || []).map((f) => el("li", {}, typeof f === "string" ? f : f.text || f.message || show(f)));
  const rest = Object.fromEntries(Object.entries(data).filter(([k]) => k !== "findings"));
  root.replaceChildren(el("h2", {}, "Insights (last 7 days against the 7 before)"),
    findings.length ? el("ul", { class: "findings" }, ...findings) : el("p", { class: "empty" }, "Not enough data to say anything yet."),
    figures(rest));
}
