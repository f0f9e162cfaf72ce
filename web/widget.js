/* kefu customer widget: one <script src=".../widget.js" data-api="https://api..." data-ws="wss://...">
 * on any page. A launcher opens a chat panel; the visitor signs up once (name optional, token kept in
 * localStorage), the widget speaks the WebSocket protocol of docs/protocol.md, retries each message
 * until it is acknowledged, reconnects with backoff and reloads the history by message id, so nothing
 * is missed or shown twice. Every text from the network is rendered with textContent, never as HTML.
 */
(function () {
  "use strict";

  const script = document.currentScript;
  const API = (script.dataset.api || new URL(script.src, location.href).origin).replace(/\/$/, "");
  const WS_URL = script.dataset.ws || "";
  const STORE_KEY = "kefu.visitor";
  const PING_MS = 30000;
  const RESEND_MS = 4000;
  const TYPING_IDLE_MS = 2500;

  const state = {
    visitor: load(),
    socket: null,
    sessionId: null,
    ended: false,
    messages: new Map(), // message id -> message
    versions: new Map(), // session id -> [version, position_seq] of the newest session frame applied
    pending: new Map(), // client_msg_id -> {text, sentAt}
    readUpTo: "", // the newest of my messages the agent has read
    lastMarked: "",
    reloadFloor: "", // after a reconnect: the newest message we had, which history pages back to
    attempt: 0,
    timers: {},
    typingSent: false,
  };

  function load() {
    try {
      const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
      if (saved && saved.token && Date.parse(saved.expires_at) > Date.now() + 60000) return saved;
    } catch (e) {
      /* a corrupt entry is the same as none */
    }
    return null;
  }

  // ---- DOM ------------------------------------------------------------------------------------

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "testid") node.dataset.testid = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const style = el("style");
  style.textContent = `
    .kefu-root{position:fixed;right:20px;bottom:20px;display:flex;flex-direction:column;align-items:flex-end;z-index:2147483000;font:14px/1.4 system-ui,sans-serif;color:#1d2430}
    .kefu-launcher{border:0;border-radius:28px;padding:14px 20px;background:#2f6fed;color:#fff;font-weight:600;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.2)}
    .kefu-panel{display:none;flex-direction:column;width:340px;height:480px;background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;margin-bottom:10px}
    .kefu-open .kefu-panel{display:flex}
    .kefu-head{background:#2f6fed;color:#fff;padding:12px 14px}
    .kefu-head b{display:block;font-size:15px}
    .kefu-status{font-size:12px;opacity:.9}
    .kefu-body{flex:1;overflow-y:auto;padding:10px;background:#f5f7fb}
    .kefu-messages{list-style:none;margin:0;padding:0}
    .kefu-msg{margin:6px 0;display:flex;flex-direction:column}
    .kefu-msg span.kefu-text{max-width:80%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}
    .kefu-msg[data-sender=visitor]{align-items:flex-end}
    .kefu-msg[data-sender=visitor] span.kefu-text{background:#2f6fed;color:#fff}
    .kefu-msg[data-sender=agent] span.kefu-text{background:#fff;border:1px solid #dde3ee}
    .kefu-msg[data-sender=system]{align-items:center}
    .kefu-msg[data-sender=system] span.kefu-text{background:none;color:#66708a;font-size:12px}
    .kefu-meta{font-size:11px;color:#8a93a8;margin-top:2px}
    .kefu-typing{font-size:12px;color:#66708a;min-height:18px;padding:0 12px}
    .kefu-foot{display:flex;gap:6px;padding:8px;border-top:1px solid #e4e8f0}
    .kefu-foot textarea{flex:1;resize:none;border:1px solid #cfd6e4;border-radius:8px;padding:7px;font:inherit;height:38px}
    .kefu-foot button,.kefu-form button,.kefu-rating button{border:0;border-radius:8px;background:#2f6fed;color:#fff;padding:0 12px;cursor:pointer}
    .kefu-foot button:disabled{background:#9db6ee;cursor:default}
    .kefu-form{padding:20px;display:flex;flex-direction:column;gap:10px}
    .kefu-form input{border:1px solid #cfd6e4;border-radius:8px;padding:8px;font:inherit}
    .kefu-form button{padding:9px}
    .kefu-end{background:none;border:1px solid rgba(255,255,255,.6);color:#fff;border-radius:6px;float:right;cursor:pointer;font-size:12px;padding:3px 8px}
    .kefu-rating{padding:10px;text-align:center;border-top:1px solid #e4e8f0}
    .kefu-rating button{margin:4px 2px;padding:6px 10px}
    .kefu-hidden{display:none!important}`;

  const root = el("div", { class: "kefu-root" });
  const panel = el("div", { class: "kefu-panel", role: "dialog", "aria-label": "Chat with us" });
  const head = el("div", { class: "kefu-head" });
  const endButton = el("button", { class: "kefu-end kefu-hidden", testid: "kefu-end", type: "button" }, "End chat");
  const status = el("div", { class: "kefu-status", testid: "kefu-status", "aria-live": "polite" }, "");
  head.append(endButton, el("b", {}, "Chat with us"), status);

  const form = el("form", { class: "kefu-form" });
  const nameInput = el("input", { testid: "kefu-name", placeholder: "Your name (optional)", maxlength: "100" });
  form.append(el("div", {}, "Hi! Ask us anything."), nameInput,
    el("button", { type: "submit", testid: "kefu-start" }, "Start chat"));

  const body = el("div", { class: "kefu-body kefu-hidden" });
  const list = el("ul", { class: "kefu-messages", testid: "kefu-messages", "aria-live": "polite" });
  body.append(list);
  const typing = el("div", { class: "kefu-typing kefu-hidden", testid: "kefu-typing" }, "Agent is typing…");
  const foot = el("form", { class: "kefu-foot kefu-hidden" });
  const input = el("textarea", { testid: "kefu-input", placeholder: "Type a message…", maxlength: "4000" });
  const sendButton = el("button", { type: "submit", testid: "kefu-send" }, "Send");
  foot.append(input, sendButton);
  const rating = el("div", { class: "kefu-rating kefu-hidden", testid: "kefu-rating" });
  rating.append(el("div", {}, "How did we do?"));
  for (let n = 1; n <= 5; n++) {
    const star = el("button", { type: "button", testid: `kefu-rate-${n}`, "aria-label": `${n} of 5` }, "★".repeat(n));
    star.addEventListener("click", () => rate(n));
    rating.append(star);
  }
  const again = el("button", { type: "button", testid: "kefu-new", class: "kefu-hidden" }, "Start a new chat");
  rating.append(again);
  panel.append(head, form, body, typing, foot, rating);
  const launcher = el("button", { class: "kefu-launcher", testid: "kefu-launcher", type: "button" }, "Chat with us");
  root.append(panel, launcher);

  function mount() {
    document.head.append(style);
    document.body.append(root);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  const show = (node, visible) => node.classList.toggle("kefu-hidden", !visible);
  const setStatus = (text) => { status.textContent = text; };

  launcher.addEventListener("click", () => {
    const open = !root.classList.contains("kefu-open");
    root.classList.toggle("kefu-open", open);
    launcher.textContent = open ? "Close" : "Chat with us";
    if (open && state.visitor) startChat();
    if (open) markRead();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await signUp(nameInput.value.trim());
      startChat();
    } catch (e) {
      setStatus("Could not reach us, please try again.");
    }
  });

  foot.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      send();
    }
  });
  input.addEventListener("input", () => setTyping(input.value.length > 0));
  endButton.addEventListener("click", () => frame({ action: "end_session", session_id: state.sessionId }));
  again.addEventListener("click", () => {
    state.sessionId = null;
    state.ended = false;
    state.messages.clear();
    list.replaceChildren();
    show(rating, false);
    frame({ action: "start_session" });
  });
  document.addEventListener("visibilitychange", markRead);

  // ---- sign-up and socket ---------------------------------------------------------------------

  async function signUp(name) {
    const response = await fetch(`${API}/api/visitors`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(name ? { name } : {}),
    });
    if (!response.ok) throw new Error(`sign-up failed: ${response.status}`);
    const signed = await response.json();
    state.visitor = { visitor_id: signed.visitor_id, token: signed.token, expires_at: signed.expires_at, name };
    localStorage.setItem(STORE_KEY, JSON.stringify(state.visitor));
  }

  function startChat() {
    show(form, false);
    show(body, true);
    show(foot, !state.ended);
    if (!state.socket) connect();
  }

  function connect() {
    setStatus(state.attempt ? "Reconnecting…" : "Connecting…");
    const socket = new WebSocket(`${WS_URL}?token=${encodeURIComponent(state.visitor.token)}`);
    let opened = false;
    state.socket = socket;
    socket.addEventListener("open", () => {
      opened = true;
      state.attempt = 0;
      clearInterval(state.timers.ping);
      state.timers.ping = setInterval(() => frame({ action: "ping" }), PING_MS);
      // Ask for our state: the open session (and its history) or a new one.
      if (state.sessionId) {
        frame({ action: "get_session", session_id: state.sessionId });
        // Page back until we meet what we already had: nothing missed, however much came meanwhile.
        state.reloadFloor = newestKnown();
        frame({ action: "get_history", session_id: state.sessionId, limit: 100 });
      } else {
        frame({ action: "start_session" });
      }
      resendPending(0);
    });
    socket.addEventListener("message", (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      handle(data);
    });
    socket.addEventListener("close", async () => {
      clearInterval(state.timers.ping);
      if (state.socket !== socket) return;
      state.socket = null;
      // A refused handshake looks like any failed connection to a page; REST tells them apart.
      if (!opened && navigator.onLine && !(await isTokenAccepted())) {
        forgetVisitor();
        return;
      }
      // Backoff with jitter: 0.5 s, 1 s, 2 s ... at most 15 s.
      const delay = Math.min(15000, 500 * 2 ** state.attempt) * (0.75 + Math.random() / 2);
      state.attempt += 1;
      setStatus("Connection lost, reconnecting…");
      state.timers.reconnect = setTimeout(connect, delay);
    });
  }

  async function isTokenAccepted() {
    try {
      const response = await fetch(`${API}/api/sessions?limit=1`, {
        headers: { Authorization: `Bearer ${state.visitor.token}` },
      });
      return response.status !== 401 && response.status !== 403;
    } catch (e) {
      return true; // the network is down: keep the token, keep trying
    }
  }

  function forgetVisitor() {
    localStorage.removeItem(STORE_KEY);
    state.visitor = null;
    state.sessionId = null;
    state.messages.clear();
    list.replaceChildren();
    show(body, false);
    show(foot, false);
    show(endButton, false);
    show(form, true);
    setStatus("Please start a new chat.");
  }

  function frame(data) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(data));
      return true;
    }
    return false;
  }

  // ---- protocol --------------------------------------------------------------------------------

  // Frames about a session come from different servers in any order: the newest by (version,
  // position_seq) wins and an older one is dropped (docs/protocol.md, "Session versions").
  function isStale(data) {
    if (!data.session_id || typeof data.version !== "number") return false;
    const key = [data.version, data.position_seq || 0];
    const held = state.versions.get(data.session_id);
    if (held && (key[0] < held[0] || (key[0] === held[0] && key[1] < held[1]))) return true;
    state.versions.set(data.session_id, key);
    return false;
  }

  function handle(data) {
    if (typeof data.type === "string" && data.type.startsWith("session.") && isStale(data)) return;
    switch (data.type) {
      case "session.queued":
        adopt(data.session_id);
        // Beyond the first waiters the server tells a band, again only when it changes (docs/protocol.md).
        setStatus(data.band ? `You are number ${data.band[0]}-${data.band[1]} in the queue`
                            : `You are number ${data.position} in the queue`);
        break;
      case "session.assigned":
      case "session.transferred":
        adopt(data.session_id);
        setStatus(`You are chatting with ${(data.agent && data.agent.name) || "an agent"}`);
        break;
      case "session.ended":
        if (data.session_id === state.sessionId) finish(data.reason);
        break;
      case "message.ack":
        state.pending.delete(data.client_msg_id);
        addMessage(data.message);
        break;
      case "message.new":
        if (data.message.session_id === state.sessionId) {
          addMessage(data.message);
          if (data.message.sender.type === "agent") show(typing, false);
          markRead();
        }
        break;
      case "history":
        if (data.session_id === state.sessionId) {
          data.messages.forEach(addMessage);
          const oldest = data.messages.reduce((low, m) => (low === null || m.id < low ? m.id : low), null);
          if (data.next && state.reloadFloor && oldest !== null && oldest > state.reloadFloor) {
            frame({ action: "get_history", session_id: state.sessionId, before: data.next, limit: 100 });
          } else {
            state.reloadFloor = "";
          }
          markRead();
        }
        break;
      case "typing":
        if (data.session_id === state.sessionId && data.user && data.user.type !== "visitor") {
          show(typing, data.is_typing);
        }
        break;
      case "message.read":
        if (data.session_id === state.sessionId && data.reader && data.reader.type !== "visitor") {
          if (data.up_to > state.readUpTo) state.readUpTo = data.up_to;
          renderReceipts();
        }
        break;
      case "session.rated":
        show(rating, true);
        rating.querySelectorAll("button[data-testid^='kefu-rate-']").forEach((b) => { b.disabled = true; });
        show(again, true);
        setStatus("Thank you for your feedback!");
        break;
      case "error":
        if (data.action === "send_message" && data.code !== "rate_limited") state.pending.delete(data.client_msg_id);
        break;
      default:
        break;
    }
  }

  function adopt(sessionId) {
    if (state.sessionId === sessionId) return;
    state.sessionId = sessionId;
    state.ended = false;
    show(endButton, true);
    show(foot, true);
    frame({ action: "get_history", session_id: sessionId, limit: 100 });
  }

  function finish(reason) {
    state.ended = true;
    show(endButton, false);
    show(foot, false);
    show(typing, false);
    show(rating, true);
    const why = { ended_by_visitor: "You ended the chat", ended_by_agent: "The agent ended the chat" }[reason];
    setStatus(why || "The chat has ended");
    addSystem(`chat-ended-${state.sessionId}`, why || "The chat has ended");
  }

  function rate(n) {
    frame({ action: "rate_session", session_id: state.sessionId, rating: n });
  }

  // ---- messages -----------------------------------------------------------------------------

  function newestKnown() {
    let newest = "";
    for (const id of state.messages.keys()) if (id > newest) newest = id;
    return newest;
  }

  function newId() {
    return (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  }

  function send() {
    const text = input.value.trim();
    if (!text || !state.sessionId || state.ended) return;
    const clientMsgId = newId();
    state.pending.set(clientMsgId, { text, sentAt: Date.now() });
    input.value = "";
    setTyping(false);
    renderPending(clientMsgId, text);
    frame({ action: "send_message", session_id: state.sessionId, client_msg_id: clientMsgId, text });
    scheduleResend();
  }

  // Until acked, a message is sent again (same client_msg_id: the server stores it once).
  function scheduleResend() {
    clearTimeout(state.timers.resend);
    if (state.pending.size) state.timers.resend = setTimeout(() => resendPending(RESEND_MS), RESEND_MS);
  }

  function resendPending(olderThan) {
    const now = Date.now();
    for (const [clientMsgId, item] of state.pending) {
      if (now - item.sentAt >= olderThan && state.sessionId) {
        if (frame({ action: "send_message", session_id: state.sessionId, client_msg_id: clientMsgId, text: item.text })) {
          item.sentAt = now;
        }
      }
    }
    scheduleResend();
  }

  function setTyping(isTyping) {
    clearTimeout(state.timers.typing);
    if (isTyping) state.timers.typing = setTimeout(() => setTyping(false), TYPING_IDLE_MS);
    if (isTyping === state.typingSent || !state.sessionId || state.ended) return;
    state.typingSent = isTyping;
    frame({ action: "typing", session_id: state.sessionId, is_typing: isTyping });
  }

  function markRead() {
    if (!state.sessionId || document.hidden || !root.classList.contains("kefu-open")) return;
    let newest = "";
    for (const message of state.messages.values()) {
      if (message.sender.type !== "visitor" && message.id > newest) newest = message.id;
    }
    if (newest && newest > state.lastMarked && frame({ action: "mark_read", session_id: state.sessionId, up_to: newest })) {
      state.lastMarked = newest;
    }
  }

  function addMessage(message) {
    if (!message || message.session_id !== state.sessionId) return;
    const known = state.messages.get(message.id);
    state.messages.set(message.id, known && known.read_at && !message.read_at ? known : message);
    if (message.sender.type === "visitor" && message.read_at && message.id > state.readUpTo) state.readUpTo = message.id;
    const pendingNode = list.querySelector(`[data-client-msg-id="${CSS.escape(message.client_msg_id || "")}"]`);
    if (pendingNode && message.sender.type === "visitor") pendingNode.remove();
    if (message.sender.type === "visitor") state.pending.delete(message.client_msg_id);
    if (list.querySelector(`[data-id="${CSS.escape(message.id)}"]`)) {
      renderReceipts();
      return;
    }
    const node = messageNode(message.sender.type, message.text);
    node.dataset.id = message.id;
    // Ids sort by time: insert in order, whatever order history and pushes arrive in.
    const after = [...list.querySelectorAll("[data-id]")].find((other) => other.dataset.id > message.id);
    list.insertBefore(node, after || list.querySelector("[data-client-msg-id]") || null);
    renderReceipts();
    body.scrollTop = body.scrollHeight;
  }

  function renderPending(clientMsgId, text) {
    const node = messageNode("visitor", text);
    node.dataset.clientMsgId = clientMsgId;
    node.querySelector(".kefu-meta").textContent = "Sending…";
    list.append(node);
    body.scrollTop = body.scrollHeight;
  }

  function addSystem(key, text) {
    if (list.querySelector(`[data-system="${CSS.escape(key)}"]`)) return;
    const node = messageNode("system", text);
    node.dataset.system = key;
    list.append(node);
  }

  function messageNode(sender, text) {
    const node = el("li", { class: "kefu-msg", testid: "kefu-message" });
    node.dataset.sender = sender;
    node.append(el("span", { class: "kefu-text" }, text), el("span", { class: "kefu-meta" }, ""));
    return node;
  }

  function renderReceipts() {
    for (const node of list.querySelectorAll("[data-sender=visitor][data-id]")) {
      const isRead = node.dataset.id <= state.readUpTo;
      node.dataset.read = String(isRead);
      node.querySelector(".kefu-meta").textContent = isRead ? "Read" : "Sent";
    }
  }
})();
