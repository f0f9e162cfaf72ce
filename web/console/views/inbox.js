// The inbox: my conversations (with unread counts), the unassigned ones (the queue, and the
// conversations waiting offline for an agent, #19's status "offline"), closed ones
// paged back through history, everyone's for admins, and search by customer name, email or
// conversation id. Opening one hands it to the conversation view.
import * as alerts from "../alerts.js";
import { ApiError, el, request } from "../api.js";
import { t, time } from "../i18n.js";
import { emit, isNewest, on, state } from "../state.js";

const QUEUE_POLL_MS = 3000;
const OFFLINE_POLL_MS = 30000; // the listing reads an index: every half minute, and on session frames
const EVERYONES_POLL_MS = 10000; // the All tab, while it is shown
const CLOSED_PAGE = 25;

const inbox = {
  root: null,
  tab: "mine",
  mine: new Map(), // session_id -> {session, unread: Set of unread visitor message ids, seen, announced}
  queue: [],
  offline: [], // conversations waiting for an agent while nobody could answer
  offlineAt: 0, // when they were last listed; null when the server has no such listing
  queueSeen: null, // session ids seen in the queue, so a newcomer alerts once
  closed: { items: [], next: undefined },
  all: { items: [], next: undefined },
  everyonesActive: [], // admins, the All tab: conversations other agents hold now, openable read-only
  results: null, // search results, while a search is shown
  timer: null,
  everyonesTimer: null,
  everyonesRun: 0, // the current refresh loop of the All tab: an older one stops
  hooks: {},
};

const $ = (id) => document.getElementById(id);

export function mount(root) {
  inbox.root = root;
  const tabs = [["mine", "inbox.mine"], ["unassigned", "inbox.unassigned"], ["closed", "inbox.closed"]];
  if (state.me.role === "admin") tabs.push(["all", "inbox.all"]);
  const search = el("input", { type: "search", testid: "inbox-search", id: "inbox-search", placeholder: t("inbox.search"),
    "aria-label": t("inbox.search") });
  let debounce = null;
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => runSearch(search.value), 250);
  });
  search.addEventListener("keydown", (e) => { if (e.key === "Enter") { clearTimeout(debounce); runSearch(search.value); } });
  root.replaceChildren(
    search,
    el("div", { class: "inbox-tabs", role: "tablist" }, ...tabs.map(([name, label]) =>
      el("button", { type: "button", role: "tab", testid: `inbox-tab-${name}`, "data-tab": name, onclick: () => selectTab(name) },
        t(label), el("span", { class: "unread", "data-count": "0", id: `tab-count-${name}` })))),
    el("ul", { class: "list", testid: "session-list", id: "session-list" }),
    el("ul", { class: "list", testid: "queue-list", id: "queue-list", hidden: "" }),
    el("ul", { class: "list", testid: "closed-list", id: "closed-list", hidden: "" }),
    el("ul", { class: "list", testid: "search-results", id: "search-results", hidden: "" }),
    el("button", { type: "button", id: "closed-more", class: "link", testid: "closed-more", hidden: "", onclick: () => loadClosed(false) },
      t("inbox.more")));
  selectTab("mine");
  on("conversation.opened", (sessionId) => {
    const entry = inbox.mine.get(sessionId);
    if (entry) { entry.unread.clear(); entry.seen = true; entry.announced = false; }
    render();
  });
  on("conversation.message", ({ message, onScreen }) => {
    const entry = inbox.mine.get(message.session_id);
    if (!entry || onScreen || message.sender.type !== "visitor" || entry.unread.has(message.id)) return;
    // Since #19 a conversation starts with the customer's first message: when it is the first one
    // counted in a conversation just announced, the "new conversation" alert told of it already.
    const opening = entry.announced && entry.unread.size === 0;
    entry.announced = false;
    entry.unread.add(message.id); // once, whether the REST count saw it or not
    render();
    if (!opening) alerts.newMessage(message, entry.session.visitor?.name, () => emit("open", { sessionId: message.session_id }));
  });
}

function selectTab(name) {
  inbox.tab = name;
  inbox.results = null;
  $("inbox-search").value = "";
  for (const button of inbox.root.querySelectorAll("[data-tab]")) {
    button.classList.toggle("active", button.dataset.tab === name);
    button.setAttribute("aria-selected", String(button.dataset.tab === name));
  }
  if (name === "closed" || name === "all") loadClosed(true);
  scheduleEveryones(++inbox.everyonesRun);
  render();
}

export function listen(live, hooks) {
  inbox.hooks = hooks;
  const onSession = (type, handler) => live.on(type, (f) => { if (isNewest(f)) handler(f); });
  onSession("session.assigned", (f) => {
    if (f.agent?.id === state.me.agent_id) {
      const isNew = !inbox.mine.has(f.session_id);
      upsert({ session_id: f.session_id, visitor: f.customer, agent: f.agent, status: "active", topic: f.topic });
      if (isNew && state.current !== f.session_id) {
        inbox.mine.get(f.session_id).announced = true;
        alerts.newConversation({ session_id: f.session_id, visitor: f.customer }, () => emit("open", { sessionId: f.session_id }));
      }
    }
    pollQueue(true);
  });
  onSession("session.transferred", (f) => {
    if (f.agent?.id === state.me.agent_id) {
      upsert({ session_id: f.session_id, visitor: f.customer, agent: f.agent, status: "active" });
      if (state.current !== f.session_id) {
        alerts.newConversation({ session_id: f.session_id, visitor: f.customer }, () => emit("open", { sessionId: f.session_id }));
      }
    } else if (f.from_agent?.id === state.me.agent_id) {
      drop(f.session_id);
    }
  });
  onSession("session.released", (f) => drop(f.session_id));
  onSession("session.ended", (f) => {
    const entry = inbox.mine.get(f.session_id);
    if (entry) entry.session.status = "ended";
    emit("session.ended", f);
    render();
  });
  pollQueue();
}

// ---- my conversations ---------------------------------------------------------------------------

export async function reload() {
  const { sessions } = await request("GET", "/api/sessions?status=active&limit=100");
  const mine = sessions.filter((s) => s.agent?.id === state.me.agent_id);
  for (const session of mine) {
    if (!isNewest(session)) continue; // a frame already told something newer
    if (!inbox.mine.has(session.session_id)) inbox.mine.set(session.session_id, { session, unread: new Set(), seen: true });
    else inbox.mine.get(session.session_id).session = session;
  }
  // One the listing misses may have ended or moved meanwhile, or be newer than the listing (it was
  // read before a frame gave it to me, or from an index seconds behind): ask the conversation.
  const missing = [...inbox.mine].filter(([id, entry]) => entry.session.status === "active"
    && !mine.some((s) => s.session_id === id)).map(([id]) => id);
  render();
  await Promise.all([...mine.map(countUnread), ...missing.map(recheck)]);
  emit("reconnected");
}

async function recheck(sessionId) {
  let session;
  try {
    session = await request("GET", `/api/sessions/${encodeURIComponent(sessionId)}`);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 403 || e.status === 404)) drop(sessionId); // no longer mine to read
    return;
  }
  if (!isNewest(session)) return;
  if (session.status === "active" && session.agent?.id !== state.me.agent_id) drop(sessionId);
  else upsert(session);
}

async function countUnread(session) {
  if (session.session_id === state.current) return;
  const page = await request("GET", `/api/sessions/${encodeURIComponent(session.session_id)}/messages?limit=100`);
  const entry = inbox.mine.get(session.session_id);
  // Opened while the page was on its way: what it lists as unread is being read now.
  if (!entry || session.session_id === state.current) return;
  for (const m of page.messages) if (m.sender.type === "visitor" && !m.read_at) entry.unread.add(m.id);
  render();
}

function upsert(session) {
  const entry = inbox.mine.get(session.session_id);
  if (entry) Object.assign(entry.session, session);
  else inbox.mine.set(session.session_id, { session, unread: new Set(), seen: false });
  render();
  countUnread(session).catch(() => {});
}

function drop(sessionId) {
  inbox.mine.delete(sessionId);
  emit("dropped", sessionId);
  render();
}

export function sessionOf(sessionId) {
  return inbox.mine.get(sessionId)?.session
    || [...inbox.closed.items, ...inbox.all.items, ...inbox.everyonesActive, ...(inbox.results || [])].find((s) => s.session_id === sessionId)
    || null;
}

// ---- the queue -----------------------------------------------------------------------------------

// The queue has no push of its own, and my status can change on the server (the presence sweep
// takes a silent agent offline): both are read again every few seconds.
async function pollQueue(listOffline = false) {
  clearTimeout(inbox.timer);
  try {
    const [{ queue }, me] = await Promise.all([request("GET", "/api/kefu/queue"), request("GET", "/api/agents/me"),
      refreshOffline(listOffline)]);
    if (me.status !== state.me.status) inbox.hooks.onStatus?.(me.status);
    inbox.queue = queue;
    alertNewcomers(me);
    render();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return inbox.hooks.onExpired?.();
  }
  inbox.timer = setTimeout(pollQueue, QUEUE_POLL_MS);
}

async function refreshOffline(force) {
  if (inbox.offlineAt === null || (!force && Date.now() - inbox.offlineAt < OFFLINE_POLL_MS)) return;
  inbox.offlineAt = Date.now();
  try {
    inbox.offline = (await request("GET", "/api/sessions?status=offline&limit=50")).sessions;
  } catch (e) {
    if (e instanceof ApiError && e.status === 400) inbox.offlineAt = null; // a server without offline conversations
    else throw e;
  }
}

// Someone new waits unassigned while I am not taking chats (away, or full): the same alert as a
// conversation given to me. Those already waiting when the console opened alert nobody.
function alertNewcomers(me) {
  const waiting = [...inbox.queue.map((q) => [q.session_id, q.customer_name]),
    ...inbox.offline.map((s) => [s.session_id, s.visitor?.name])];
  const seen = inbox.queueSeen;
  inbox.queueSeen = new Set(waiting.map(([id]) => id));
  if (seen === null) return;
  const full = me.max_concurrent !== undefined && me.active >= me.max_concurrent;
  if (me.status === "online" && !full) return; // the next one is routed to me anyway
  for (const [id, name] of waiting) {
    if (!seen.has(id)) alerts.newConversation({ session_id: id, visitor: { name } }, () => selectTab("unassigned"));
  }
}

async function accept(sessionId) {
  try {
    const session = await request("POST", `/api/sessions/${encodeURIComponent(sessionId)}/accept`);
    if (isNewest(session)) upsert(session);
    emit("open", { sessionId: session.session_id });
    selectTab("mine");
  } catch (e) {
    alert(t("conv.couldNot", { what: t("inbox.accept"), error: e.message }));
  }
  pollQueue(true);
}

// ---- closed, everyone's, search ------------------------------------------------------------------

async function loadClosed(first) {
  const scope = inbox.tab === "all" ? "all" : "mine";
  const held = inbox[inbox.tab === "all" ? "all" : "closed"];
  if (!first && !held.next) return;
  const cursor = first ? "" : `&cursor=${encodeURIComponent(held.next)}`;
  const [page, active] = await Promise.all([request("GET", `/api/inbox/closed?scope=${scope}&limit=${CLOSED_PAGE}${cursor}`),
    scope === "all" && first ? request("GET", "/api/sessions?status=active&limit=100") : null]);
  if (active) inbox.everyonesActive = active.sessions;
  held.items = first ? page.sessions : [...held.items, ...page.sessions];
  held.next = page.next;
  render();
}

// Nothing is pushed to an admin about conversations other agents hold: while the All tab is shown
// (on a visible page) they are read again every few seconds (the listing reads an index, which may
// be seconds behind). Choosing a tab starts a new loop; an older one stops at its next turn.
function scheduleEveryones(run) {
  clearTimeout(inbox.everyonesTimer);
  if (run === inbox.everyonesRun && inbox.tab === "all") {
    inbox.everyonesTimer = setTimeout(() => refreshEveryones(run), EVERYONES_POLL_MS);
  }
}

async function refreshEveryones(run) {
  if (run !== inbox.everyonesRun || inbox.tab !== "all") return;
  if (!document.hidden && !inbox.root.closest("[hidden]")) {
    try {
      const { sessions } = await request("GET", "/api/sessions?status=active&limit=100");
      if (run !== inbox.everyonesRun || inbox.tab !== "all") return;
      inbox.everyonesActive = sessions;
      render();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return inbox.hooks.onExpired?.();
    }
  }
  scheduleEveryones(run);
}

async function runSearch(text) {
  const query = text.trim();
  if (!query) {
    inbox.results = null;
    render();
    return;
  }
  const { sessions } = await request("GET", `/api/inbox/search?q=${encodeURIComponent(query)}`);
  if ($("inbox-search").value.trim() !== query) return; // typed on meanwhile
  inbox.results = sessions;
  render();
}

// ---- drawing -------------------------------------------------------------------------------------

function sessionRow(session, testid, extra = []) {
  const open = () => emit("open", { sessionId: session.session_id, readOnly: session.status !== "active"
    || session.agent?.id !== state.me.agent_id });
  return el("li", { testid, "data-session-id": session.session_id, "data-status": session.status,
    class: session.session_id === state.current ? "selected" : "", onclick: open },
  el("span", { class: "name" }, session.visitor?.name || t("visitor"),
    session.status === "ended" || session.status === "abandoned" ? ` (${t("inbox.ended")})` : ""),
  el("span", { class: "when" }, session.created_at ? time(session.created_at) : ""),
  ...extra);
}

function render() {
  const showing = inbox.results ? "search" : inbox.tab;
  $("session-list").hidden = showing !== "mine";
  $("queue-list").hidden = showing !== "unassigned";
  $("closed-list").hidden = showing !== "closed" && showing !== "all";
  $("search-results").hidden = showing !== "search";
  const mine = [...inbox.mine.values()].map((entry) => sessionRow(entry.session, "session-item",
    [el("span", { class: "unread", testid: "unread-count", "data-count": String(entry.unread.size) }, String(entry.unread.size))]));
  $("session-list").replaceChildren(...(mine.length ? mine : [el("li", { class: "empty" }, t("inbox.noChats"))]));
  const queued = inbox.queue.map((entry) => el("li", { testid: "queue-item", "data-session-id": entry.session_id },
    el("span", { class: "name" }, `#${entry.position} `, entry.customer_name || t("visitor")),
    el("button", { testid: "queue-accept", type: "button", onclick: () => accept(entry.session_id) }, t("inbox.accept"))));
  const offline = inbox.offline.map((s) => sessionRow(s, "offline-item", [
    el("span", { class: "badge" }, t("inbox.offline")),
    el("button", { testid: "offline-accept", type: "button", onclick: (e) => { e.stopPropagation(); accept(s.session_id); } },
      t("inbox.accept"))]));
  const waiting = [...queued, ...offline];
  $("queue-list").replaceChildren(...(waiting.length ? waiting : [el("li", { class: "empty" }, t("inbox.nobodyWaiting"))]));
  const held = inbox[inbox.tab === "all" ? "all" : "closed"];
  const everyones = inbox.tab === "all" ? inbox.everyonesActive.map((s) => sessionRow(s, "all-active-item",
    [el("span", { class: "when" }, s.agent?.name || "")])) : [];
  const closed = [...everyones, ...held.items.map((s) => sessionRow(s, "closed-item"))];
  $("closed-list").replaceChildren(...(closed.length ? closed : [el("li", { class: "empty" }, t("inbox.noClosed"))]));
  $("closed-more").hidden = !($("closed-list").hidden === false && held.next);
  const found = (inbox.results || []).map((s) => sessionRow(s, "search-item"));
  $("search-results").replaceChildren(...(found.length ? found : [el("li", { class: "empty" }, t("inbox.noResults"))]));
  const unread = [...inbox.mine.values()].reduce((sum, entry) => sum + entry.unread.size, 0);
  const newChats = [...inbox.mine.values()].filter((e) => !e.seen && e.unread.size === 0 && e.session.status === "active").length;
  setCount("mine", unread + newChats);
  setCount("unassigned", inbox.queue.length + inbox.offline.length);
  alerts.showUnread(unread + newChats);
}

function setCount(tab, count) {
  const badge = $(`tab-count-${tab}`);
  if (!badge) return;
  badge.dataset.count = String(count);
  badge.textContent = count ? String(count) : "";
}
