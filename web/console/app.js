// The agent console's shell: login, my status, language, alerts, the live socket and the
// navigation between views. Each view lives in its own module under views/.
import * as alerts from "./alerts.js";
import { ApiError, Live, auth, el, request } from "./api.js";
import { LANGUAGES, lang, setLanguage, t, translatePage } from "./i18n.js";
import { state } from "./state.js";
import * as conversation from "./views/conversation.js";
import * as customer from "./views/customer.js";
import * as inbox from "./views/inbox.js";
import { guarded } from "./views/kit.js";

const $ = (id) => document.getElementById(id);
const PAGES = {
  stats: () => import("./views/stats.js"),
  replies: () => import("./views/replies.js"),
  agents: () => import("./views/agents.js"),
  online: () => import("./views/online.js"),
  report: () => import("./views/report.js"),
  insights: () => import("./views/insights.js"),
};

translatePage();
for (const select of document.querySelectorAll("select.lang")) {
  select.replaceChildren(...Object.entries(LANGUAGES).map(([code, name]) => el("option", { value: code }, name)));
  select.value = lang;
  select.addEventListener("change", () => setLanguage(select.value));
}

// ---- login ---------------------------------------------------------------------------------------

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  $("login-error").textContent = "";
  try {
    const username = form.get("username");
    const login = await request("POST", "/api/auth/login",
      { username, password: form.get("password"), device_token: auth.deviceToken(username) }, null);
    auth.keepDeviceToken(username, login.device_token);
    auth.save(login);
    await start(login);
  } catch (e) {
    $("login-error").textContent = e instanceof ApiError && e.status === 401 ? t("login.wrong") : e.message;
  }
});

$("logout").addEventListener("click", () => {
  auth.clear();
  state.live?.close();
  location.reload();
});

function logoutExpired() {
  auth.clear();
  location.reload();
}

async function start(login) {
  state.me = login.agent;
  $("login").hidden = true;
  $("main").hidden = false;
  $("me").textContent = state.me.display_name || state.me.username;
  $("agent-status").value = state.me.status || "offline";
  for (const node of document.querySelectorAll(".admin-only")) node.hidden = state.me.role !== "admin";
  alerts.setup($("notify-toggle"));
  inbox.mount($("inbox"));
  conversation.mount($("conversation-view"));
  customer.mount($("customer"));
  const info = await request("GET", "/api/system/info");
  state.live = new Live(info.websocket_url, login.token);
  state.live.onstate((up) => {
    $("live").classList.toggle("on", up);
    if (up) inbox.reload();
  });
  state.live.on("agent.presence", (f) => { if (f.agent_id === undefined || f.agent_id === state.me.agent_id) showStatus(f.status); });
  inbox.listen(state.live, { onExpired: logoutExpired, onStatus: showStatus });
  conversation.listen(state.live);
}

// ---- my status ---------------------------------------------------------------------------------

$("agent-status").addEventListener("change", async (event) => {
  try {
    const agent = await request("PUT", "/api/agents/me/status", { status: event.target.value });
    showStatus(agent.status);
  } catch (e) {
    event.target.value = state.me.status;
  }
});

function showStatus(status) {
  if (document.activeElement === $("agent-status")) return;
  state.me.status = status;
  $("agent-status").value = status;
}

// ---- navigation ----------------------------------------------------------------------------------

$("tabs").addEventListener("click", async (event) => {
  const view = event.target.dataset?.view;
  if (!view) return;
  for (const button of $("tabs").querySelectorAll("button")) button.classList.toggle("active", button === event.target);
  for (const node of document.querySelectorAll(".view")) node.hidden = node.id !== `view-${view}`;
  if (view === "chats") return;
  const root = $(`view-${view}`);
  root.replaceChildren(el("p", { class: "empty" }, t("loading")));
  await guarded(root, async () => (await PAGES[view]()).show(root));
});

const saved = auth.load();
if (saved) start(saved).catch(() => logoutExpired());
