// The agent console: login, status, my chats with unread counts, the queue, one conversation at a
// time (history paging, typing, read receipts, send, end, transfer); admin views live in admin.js.
import { ApiError, Live, auth, el, request } from "./api.js";
import { showAdminView } from "./admin.js";

const $ = (id) => document.getElementById(id);
const QUEUE_POLL_MS = 3000;
const PAGE = 30;

const state = {
  me: null,
  live: null,
  sessions: new Map(), // session_id -> {session, unread}
  current: null,
  messages: new Map(), // of the open conversation: id -> message
  versions: new Map(), // session_id -> [version, position_seq] of the newest state applied; kept after a drop
  next: undefined, // cursor of the next older page of the open conversation; null: none
  readUpTo: "",
  lastMarked: "",
  typingSent: false,
  timers: {},
};

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
    $("login-error").textContent = e instanceof ApiError && e.status === 401 ? "Wrong username or password." : e.message;
  }
});

$("logout").addEventListener("click", () => {
  auth.clear();
  state.live?.close();
  location.reload();
});

async function start(login) {
  state.me = login.agent;
  $("login").hidden = true;
  $("main").hidden = false;
  $("me").textContent = state.me.display_name || state.me.username;
  $("agent-status").value = state.me.status || "offline";
  for (const node of document.querySelectorAll(".admin-only")) node.hidden = state.me.role !== "admin";
  const info = await request("GET", "/api/system/info");
  state.live = new Live(info.websocket_url, login.token);
  state.live.onstate((up) => {
    $("live").classList.toggle("on", up);
    if (up) loadSessions();
  });
  listen(state.live);
  pollQueue();
}

// ---- status --------------------------------------------------------------------------------------

$("agent-status").addEventListener("change", async (event) => {
  try {
    const agent = await request("PUT", "/api/agents/me/status", { status: event.target.value });
    showStatus(agent.status);
  } catch (e) {
    event.target.value = state.me.status;
  }
});

function showStatus(status) {
  state.me.status = status;
  $("agent-status").value = status;
}

// ---- live events ---------------------------------------------------------------------------------

// Session frames come from different servers in any order: the newest by (version, position_seq)
// wins (docs/protocol.md, "Session versions"); REST bodies carry the version too.
function isNewest(session) {
  if (typeof session.version !== "number") return true;
  const key = [session.version, session.position_seq || 0];
  const held = state.versions.get(session.session_id);
  if (held && (key[0] < held[0] || (key[0] === held[0] && key[1] < held[1]))) return false;
  state.versions.set(session.session_id, key);
  return true;
}

function listen(live) {
  const onSession = (type, handler) => live.on(type, (f) => { if (isNewest(f)) handler(f); });
  live.on("agent.presence", (f) => { if (f.agent_id === state.me.agent_id) showStatus(f.status); });
  onSession("session.assigned", (f) => { if (f.agent?.id === state.me.agent_id) upsert({ session_id: f.session_id, visitor: f.customer, status: "active", topic: f.topic }); pollQueue(); });
  onSession("session.transferred", (f) => {
    if (f.agent?.id === state.me.agent_id) upsert({ session_id: f.session_id, visitor: f.customer, status: "active" });
    else if (f.from_agent?.id === state.me.agent_id) drop(f.session_id);
  });
  onSession("session.released", (f) => drop(f.session_id));
  onSession("session.ended", (f) => {
    const entry = state.sessions.get(f.session_id);
    if (entry) entry.session.status = "ended";
    if (state.current === f.session_id) {
      addSystem(`Chat ended (${f.reason.replaceAll("_", " ")})`);
      setComposer(false);
    }
    renderSessions();
  });
  onSession("session.rated", (f) => { if (state.current === f.session_id) addSystem(`The customer rated this chat ${f.rating}/5`); });
  live.on("message.new", ({ message }) => {
    if (message.session_id === state.current) {
      addMessage(message);
      if (message.sender.type === "visitor") $("typing").hidden = true;
      markRead();
    } else if (state.sessions.has(message.session_id) && message.sender.type === "visitor") {
      state.sessions.get(message.session_id).unread += 1;
      renderSessions();
    }
  });
  live.on("typing", (f) => { if (f.session_id === state.current && f.user?.type === "visitor") $("typing").hidden = !f.is_typing; });
  live.on("message.read", (f) => {
    if (f.session_id === state.current && f.reader?.type === "visitor" && f.up_to > state.readUpTo) {
      state.readUpTo = f.up_to;
      renderReceipts();
    }
  });
}

// ---- my sessions and the queue -----------------------------------------------------------------

async function loadSessions() {
  const { sessions } = await request("GET", "/api/sessions?status=active&limit=100");
  const mine = sessions.filter((s) => s.agent?.id === state.me.agent_id);
  for (const session of mine) {
    if (!isNewest(session)) continue; // a frame already told something newer
    if (!state.sessions.has(session.session_id)) state.sessions.set(session.session_id, { session, unread: 0 });
    else state.sessions.get(session.session_id).session = session;
  }
  for (const [id, entry] of state.sessions) {
    if (entry.session.status === "active" && !mine.some((s) => s.session_id === id)) entry.session.status = "ended";
  }
  renderSessions();
  await Promise.all(mine.map(countUnread));
  if (state.current) loadHistory(true);
}

async function countUnread(session) {
  if (session.session_id === state.current) return;
  const page = await request("GET", `/api/sessions/${encodeURIComponent(session.session_id)}/messages?limit=100`);
  const entry = state.sessions.get(session.session_id);
  if (!entry) return;
  entry.unread = page.messages.filter((m) => m.sender.type === "visitor" && !m.read_at).length;
  renderSessions();
}

function upsert(session) {
  const entry = state.sessions.get(session.session_id);
  if (entry) Object.assign(entry.session, session);
  else state.sessions.set(session.session_id, { session, unread: 0 });
  renderSessions();
  countUnread(session).catch(() => {});
}

function drop(sessionId) {
  state.sessions.delete(sessionId);
  if (state.current === sessionId) closeConversation();
  renderSessions();
}

function renderSessions() {
  const list = $("session-list");
  const items = [...state.sessions.values()].map(({ session, unread }) => {
    const item = el("li", { testid: "session-item", "data-session-id": session.session_id, "data-status": session.status,
      class: session.session_id === state.current ? "selected" : "", onclick: () => openConversation(session.session_id) },
    el("span", { class: "name" }, session.visitor?.name || "Visitor", session.status === "ended" ? " (ended)" : ""),
    el("span", { class: "unread", testid: "unread-count", "data-count": String(unread) }, String(unread)));
    return item;
  });
  list.replaceChildren(...(items.length ? items : [el("li", { class: "empty" }, "No chats yet")]));
}

// The queue has no push of its own, and my status can change on the server (the presence sweep
// takes a silent agent offline): both are read again every few seconds.
async function pollQueue() {
  clearTimeout(state.timers.queue);
  try {
    const [{ queue }, me] = await Promise.all([request("GET", "/api/kefu/queue"), request("GET", "/api/agents/me")]);
    if (me.status !== state.me.status && document.activeElement !== $("agent-status")) showStatus(me.status);
    const items = queue.map((entry) => el("li", { testid: "queue-item", "data-session-id": entry.session_id },
      el("span", { class: "name" }, `#${entry.position} `, entry.customer_name || "Visitor"),
      el("button", { testid: "queue-accept", type: "button", onclick: () => accept(entry.session_id) }, "Accept")));
    $("queue-list").replaceChildren(...(items.length ? items : [el("li", { class: "empty" }, "Nobody is waiting")]));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return logoutExpired();
  }
  state.timers.queue = setTimeout(pollQueue, QUEUE_POLL_MS);
}

async function accept(sessionId) {
  try {
    const session = await request("POST", `/api/sessions/${encodeURIComponent(sessionId)}/accept`);
    if (isNewest(session)) upsert(session);
    openConversation(session.session_id);
  } catch (e) {
    alert(`Could not accept: ${e.message}`);
  }
  pollQueue();
}

function logoutExpired() {
  auth.clear();
  location.reload();
}

// ---- the conversation ------------------------------------------------------------------------

async function openConversation(sessionId) {
  state.current = sessionId;
  state.messages.clear();
  state.next = undefined; // not loaded yet; null: no older page
  state.readUpTo = "";
  state.lastMarked = "";
  $("conversation").replaceChildren();
  $("typing").hidden = true;
  const entry = state.sessions.get(sessionId);
  if (entry) entry.unread = 0;
  $("conv-title").textContent = entry?.session.visitor?.name || "Visitor";
  setComposer(entry?.session.status === "active");
  renderSessions();
  loadTransferTargets();
  await loadHistory(true);
}

function closeConversation() {
  state.current = null;
  $("conversation").replaceChildren();
  $("conv-title").textContent = "Pick a chat";
  setComposer(false);
}

function setComposer(open) {
  for (const id of ["message-input", "end", "transfer", "transfer-agent"]) $(id).disabled = !open;
  $("composer").querySelector("button").disabled = !open;
}

async function loadHistory(newest) {
  const sessionId = state.current;
  const before = newest ? "" : `&before=${encodeURIComponent(state.next)}`;
  const page = await request("GET", `/api/sessions/${encodeURIComponent(sessionId)}/messages?limit=${PAGE}${before}`);
  if (sessionId !== state.current) return;
  // A reload of the newest page (after a reconnect) keeps the cursor of older pages already shown.
  if (!newest || state.next === undefined) state.next = page.next;
  $("older").hidden = !state.next;
  const body = $("conv-body");
  const fromBottom = body.scrollHeight - body.scrollTop;
  page.messages.forEach(addMessage);
  if (newest) body.scrollTop = body.scrollHeight;
  else body.scrollTop = body.scrollHeight - fromBottom;
  markRead();
}

$("older").addEventListener("click", () => loadHistory(false));

function addMessage(message) {
  if (message.session_id !== state.current) return;
  if (message.sender.type === "agent" && message.read_at && message.id > state.readUpTo) state.readUpTo = message.id;
  const list = $("conversation");
  if (state.messages.has(message.id)) return renderReceipts();
  state.messages.set(message.id, message);
  const pending = list.querySelector(`[data-client-msg-id="${CSS.escape(message.client_msg_id || "")}"]`);
  if (pending && message.sender.id === state.me.agent_id) pending.remove();
  const node = messageNode(message.sender.type, message.text, message.sender.name);
  node.dataset.id = message.id;
  const after = [...list.querySelectorAll("[data-id]")].find((other) => other.dataset.id > message.id);
  list.insertBefore(node, after || list.querySelector("[data-client-msg-id]"));
  renderReceipts();
  if (!after) $("conv-body").scrollTop = $("conv-body").scrollHeight;
}

function messageNode(sender, text, name) {
  return el("li", { testid: "message", "data-sender": sender },
    el("span", { class: "text" }, text),
    el("span", { class: "meta" }, sender === "system" ? "" : name || sender));
}

function addSystem(text) {
  $("conversation").append(messageNode("system", text));
}

function renderReceipts() {
  for (const node of $("conversation").querySelectorAll("[data-sender=agent][data-id]")) {
    const isRead = node.dataset.id <= state.readUpTo;
    node.dataset.read = String(isRead);
    node.querySelector(".meta").textContent = `${state.me.display_name || "You"} · ${isRead ? "Read" : "Sent"}`;
  }
}

function markRead() {
  if (!state.current || document.hidden) return;
  let newest = "";
  for (const message of state.messages.values()) {
    if (message.sender.type === "visitor" && message.id > newest) newest = message.id;
  }
  if (newest > state.lastMarked && state.live.send({ action: "mark_read", session_id: state.current, up_to: newest })) {
    state.lastMarked = newest;
  }
}
document.addEventListener("visibilitychange", markRead);

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});
$("message-input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    send();
  }
});
$("message-input").addEventListener("input", (event) => setTyping(event.target.value.length > 0));

function setTyping(isTyping) {
  clearTimeout(state.timers.typing);
  if (isTyping) state.timers.typing = setTimeout(() => setTyping(false), 2500);
  if (isTyping === state.typingSent || !state.current) return;
  state.typingSent = isTyping;
  state.live.send({ action: "typing", session_id: state.current, is_typing: isTyping });
}

// REST sends are idempotent by client_msg_id: retry until the server answers.
async function send() {
  const text = $("message-input").value.trim();
  const sessionId = state.current;
  if (!text || !sessionId) return;
  $("message-input").value = "";
  setTyping(false);
  const clientMsgId = crypto.randomUUID();
  const pending = messageNode("agent", text, "Sending…");
  pending.dataset.clientMsgId = clientMsgId;
  $("conversation").append(pending);
  $("conv-body").scrollTop = $("conv-body").scrollHeight;
  for (let attempt = 0; ; attempt++) {
    try {
      const { message } = await request("POST", `/api/sessions/${encodeURIComponent(sessionId)}/messages`,
        { text, client_msg_id: clientMsgId });
      addMessage(message);
      return;
    } catch (e) {
      if (e instanceof ApiError && e.status < 500 && e.status !== 429) {
        pending.querySelector(".meta").textContent = `Not sent: ${e.message}`;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(10000, 500 * 2 ** attempt)));
    }
  }
}

$("end").addEventListener("click", async () => {
  if (!state.current) return;
  try {
    await request("POST", `/api/sessions/${encodeURIComponent(state.current)}/end`);
  } catch (e) {
    alert(`Could not end: ${e.message}`);
  }
});

async function loadTransferTargets() {
  const { agents } = await request("GET", "/api/kefu/agents");
  const options = agents.filter((a) => a.agent_id !== state.me.agent_id).map((a) =>
    el("option", { value: a.agent_id }, `${a.display_name || a.agent_id} (${a.status}, ${a.active}/${a.max_concurrent})`));
  $("transfer-agent").replaceChildren(el("option", { value: "" }, "Any available agent"), ...options);
}

$("transfer").addEventListener("click", async () => {
  const sessionId = state.current;
  const agentId = $("transfer-agent").value || null;
  try {
    await request("POST", `/api/sessions/${encodeURIComponent(sessionId)}/transfer`, { agent_id: agentId });
    drop(sessionId);
  } catch (e) {
    alert(`Could not transfer: ${e.message}`);
  }
});

// ---- navigation ----------------------------------------------------------------------------------

$("tabs").addEventListener("click", (event) => {
  const view = event.target.dataset?.view;
  if (!view) return;
  for (const button of $("tabs").querySelectorAll("button")) button.classList.toggle("active", button === event.target);
  for (const node of document.querySelectorAll(".view")) node.hidden = node.id !== `view-${view}`;
  if (view !== "chats") showAdminView(view, $(`view-${view}`));
});

const saved = auth.load();
if (saved) start(saved).catch(() => logoutExpired());
setComposer(false);
