// One conversation: its whole transcript (every message with its sender's name and time, system
// lines, internal notes), history paging, typing, read receipts, the composer (replies, notes,
// saved replies with `/`), transfer with a note, end. Closed conversations open read only.
import { ApiError, el, request } from "../api.js";
import { t, time } from "../i18n.js";
import { emit, on, state } from "../state.js";
import { systemText } from "../transcript.js";
import { sessionOf } from "./inbox.js";
import { attachPicker } from "../picker.js";

// Images (PNG, JPEG, GIF, WebP) and PDFs up to 10 MB, as the widget sends them (docs/protocol.md).
const FILE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"];
const MAX_FILE_BYTES = 10 * 1024 * 1024;

const PAGE = 30;
const SVG = "http://www.w3.org/2000/svg";

/** A paperclip drawn in SVG, as the widget draws it: an emoji depends on the agent's fonts. */
function paperclip() {
  const svg = document.createElementNS(SVG, "svg");
  for (const [key, value] of Object.entries({ viewBox: "0 0 24 24", width: "20", height: "20", "aria-hidden": "true" })) {
    svg.setAttribute(key, value);
  }
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", "M21 11.5l-8.6 8.6a5.5 5.5 0 01-7.8-7.8l8.6-8.6a3.7 3.7 0 015.2 5.2l-8.6 8.6a1.8 1.8 0 01-2.6-2.6l7.9-7.9");
  for (const [key, value] of Object.entries({ fill: "none", stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round" })) {
    path.setAttribute(key, value);
  }
  svg.append(path);
  return svg;
}
const WHOLE_TRANSCRIPT_PAGES = 50; // a closed conversation is read whole (100 a page)

const conv = {
  messages: new Map(), // of the open conversation: id -> message
  next: undefined, // cursor of the next older page; null: none
  readUpTo: "",
  lastMarked: "",
  typingSent: false,
  readOnly: false,
  note: false,
  timers: {},
};

const $ = (id) => document.getElementById(id);

export function mount(root) {
  root.replaceChildren(
    el("div", { class: "conv-head" },
      el("button", { type: "button", class: "back", id: "conv-back", "aria-label": "Back", onclick: closeConversation }, "‹"),
      el("span", { id: "conv-title" }, t("conv.pick")),
      el("span", { class: "spacer" }),
      el("select", { id: "transfer-agent", testid: "transfer-agent", "aria-label": t("conv.transferTo"),
        onfocus: () => loadTransferTargets().catch(() => {}) }),
      el("input", { id: "transfer-note", testid: "transfer-note", placeholder: t("conv.transferNote"), "aria-label": t("conv.transferNote"), maxlength: "1000" }),
      el("button", { id: "transfer", testid: "transfer-session", type: "button", onclick: transfer }, t("conv.transfer")),
      el("button", { id: "end", testid: "end-session", type: "button", onclick: end }, t("conv.end"))),
    el("p", { id: "read-only", class: "read-only", hidden: "" }, t("conv.readOnly")),
    el("div", { class: "conv-body", id: "conv-body" },
      el("button", { id: "older", testid: "load-older", type: "button", hidden: "", onclick: () => loadHistory(false) }, t("conv.older")),
      el("ol", { testid: "conversation", id: "conversation", class: "messages" })),
    el("div", { testid: "typing-indicator", id: "typing", class: "typing", hidden: "" }, t("conv.typing")),
    el("form", { id: "composer", class: "composer" },
      el("ul", { id: "canned-picker", testid: "canned-picker", class: "picker", role: "listbox", hidden: "" }),
      el("label", { class: "note-toggle" }, el("input", { type: "checkbox", id: "note-toggle", testid: "note-toggle" }), t("conv.noteToggle")),
      el("textarea", { testid: "message-input", id: "message-input", placeholder: t("conv.reply"), maxlength: "4000",
        "aria-label": t("conv.reply") }),
      el("label", { class: "attach", title: t("conv.attach") }, paperclip(),
        el("input", { type: "file", id: "attach", testid: "attach", accept: FILE_TYPES.join(","), "aria-label": t("conv.attach") })),
      el("button", { testid: "message-send", type: "submit" }, t("conv.send"))));
  $("attach").addEventListener("change", () => {
    const file = $("attach").files?.[0];
    if (file) sendFile(file).finally(() => { $("attach").value = ""; });
  });
  $("composer").addEventListener("submit", (event) => { event.preventDefault(); send(); });
  $("note-toggle").addEventListener("change", (event) => setNote(event.target.checked));
  const input = $("message-input");
  attachPicker(input, $("canned-picker"), () => ({
    customer: sessionOf(state.current)?.visitor?.name || t("customer"),
    agent: state.me.display_name || state.me.username,
  }));
  input.addEventListener("keydown", (event) => {
    if (event.defaultPrevented) return; // the saved-reply picker took it
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      send();
    }
  });
  input.addEventListener("input", () => setTyping(input.value.length > 0 && !conv.note));
  document.addEventListener("visibilitychange", markRead);
  on("open", ({ sessionId, readOnly }) => openConversation(sessionId, readOnly));
  on("dropped", (sessionId) => { if (state.current === sessionId) closeConversation(); });
  on("session.ended", (f) => { if (state.current === f.session_id) setComposer(false); });
  on("reconnected", () => { if (state.current) loadHistory(true); });
  setComposer(false);
}

export function listen(live) {
  const heard = (message) => {
    const onScreen = message.session_id === state.current && !document.hidden;
    if (message.session_id === state.current) {
      addMessage(message);
      if (message.sender.type === "visitor") $("typing").hidden = true;
      markRead();
    }
    emit("conversation.message", { message, onScreen });
  };
  live.on("message.new", ({ message }) => heard(message));
  live.on("session.assigned", ({ line }) => { if (line) heard(line); }); // the "joined" line rides on the frame
  live.on("typing", (f) => { if (f.session_id === state.current && f.user?.type === "visitor") $("typing").hidden = !f.is_typing; });
  live.on("message.read", (f) => {
    if (f.session_id === state.current && f.reader?.type === "visitor" && f.up_to > conv.readUpTo) {
      conv.readUpTo = f.up_to;
      renderReceipts();
    }
  });
}

async function openConversation(sessionId, readOnly = false) {
  state.current = sessionId;
  conv.messages.clear();
  conv.next = undefined; // not loaded yet; null: no older page
  conv.readUpTo = "";
  conv.lastMarked = "";
  conv.readOnly = readOnly;
  $("conversation").replaceChildren();
  $("typing").hidden = true;
  $("read-only").hidden = !readOnly;
  const session = sessionOf(sessionId);
  $("conv-title").textContent = session?.visitor?.name || t("visitor");
  document.body.classList.add("conversation-open");
  setComposer(!readOnly && session?.status === "active");
  emit("conversation.opened", sessionId);
  emit("customer", { sessionId, visitorId: session?.visitor?.id });
  if (!readOnly) loadTransferTargets().catch(() => {});
  if (readOnly) await loadWhole(sessionId);
  else await loadHistory(true);
}

function closeConversation() {
  state.current = null;
  $("conversation").replaceChildren();
  $("conv-title").textContent = t("conv.pick");
  $("read-only").hidden = true;
  document.body.classList.remove("conversation-open");
  emit("customer", { sessionId: null });
  setComposer(false);
}

function setComposer(open) {
  for (const id of ["message-input", "end", "transfer", "transfer-agent", "transfer-note", "note-toggle", "attach"]) $(id).disabled = !open;
  $("composer").querySelector("button[type=submit]").disabled = !open;
  $("composer").hidden = conv.readOnly;
}

function setNote(isNote) {
  conv.note = isNote;
  $("composer").classList.toggle("note", isNote);
  $("message-input").placeholder = isNote ? t("conv.note") : t("conv.reply");
  if (isNote) setTyping(false);
}

// ---- history -----------------------------------------------------------------------------------

async function loadHistory(newest) {
  const sessionId = state.current;
  const before = newest ? "" : `&before=${encodeURIComponent(conv.next)}`;
  const page = await request("GET", `/api/sessions/${encodeURIComponent(sessionId)}/messages?limit=${PAGE}${before}`);
  if (sessionId !== state.current) return;
  // A reload of the newest page (after a reconnect) keeps the cursor of older pages already shown.
  if (!newest || conv.next === undefined) conv.next = page.next;
  $("older").hidden = !conv.next;
  const body = $("conv-body");
  const fromBottom = body.scrollHeight - body.scrollTop;
  page.messages.forEach(addMessage);
  if (newest) body.scrollTop = body.scrollHeight;
  else body.scrollTop = body.scrollHeight - fromBottom;
  markRead();
}

async function loadWhole(sessionId) {
  let before = "";
  for (let n = 0; n < WHOLE_TRANSCRIPT_PAGES; n++) {
    const page = await request("GET", `/api/sessions/${encodeURIComponent(sessionId)}/messages?limit=100${before}`);
    if (sessionId !== state.current) return;
    page.messages.forEach(addMessage);
    if (!page.next) break;
    before = `&before=${encodeURIComponent(page.next)}`;
  }
  $("older").hidden = true;
  $("conv-body").scrollTop = $("conv-body").scrollHeight;
}

// ---- messages ------------------------------------------------------------------------------------

function addMessage(message) {
  if (message.session_id !== state.current) return;
  if (message.sender.type === "agent" && message.read_at && message.id > conv.readUpTo) conv.readUpTo = message.id;
  const list = $("conversation");
  if (conv.messages.has(message.id)) return renderReceipts();
  conv.messages.set(message.id, message);
  const pending = list.querySelector(`[data-client-msg-id="${CSS.escape(message.client_msg_id || "")}"]`);
  if (pending && message.sender.id === state.me.agent_id) pending.remove();
  const node = messageNode(message);
  node.dataset.id = message.id;
  const after = [...list.querySelectorAll("[data-id]")].find((other) => other.dataset.id > message.id);
  list.insertBefore(node, after || list.querySelector("[data-client-msg-id]"));
  renderReceipts();
  if (!after) $("conv-body").scrollTop = $("conv-body").scrollHeight;
}

function messageNode(message, pendingNote) {
  const sender = message.sender.type;
  const attrs = { testid: "message", "data-sender": sender, "data-sender-name": message.sender.name || "" };
  if (message.internal) attrs["data-internal"] = "true";
  if (sender === "system") {
    return el("li", { ...attrs, testid: "system-line", "data-event": message.system?.event || "" }, el("span", { class: "text" }, systemText(message)),
      el("span", { class: "meta" }, el("time", { datetime: message.created_at }, time(message.created_at))));
  }
  const name = message.sender.name || (sender === "visitor" ? t("visitor") : t("sys.anAgent"));
  return el("li", attrs,
    el("span", { class: "meta" }, el("b", { class: "who" }, name),
      message.internal || pendingNote ? el("span", { class: "badge" }, t("conv.internal")) : null,
      message.created_at ? el("time", { datetime: message.created_at }, time(message.created_at)) : null,
      el("span", { class: "receipt" }, pendingNote === undefined ? "" : t("conv.sending"))),
    el("span", { class: "text" }, message.text),
    message.attachment && !message.deleted ? attachmentNode(message.attachment) : null);
}

// An image previewed, any other file a link; a URL expired (they last minutes) is asked again.
function attachmentNode(file) {
  const box = el("div", { class: "file", testid: "attachment", "data-attachment-id": file.id || "" });
  const label = file.name || t("conv.file");
  if ((file.content_type || "").startsWith("image/") && file.url) {
    const image = el("img", { src: file.url, alt: label, loading: "lazy" });
    image.addEventListener("error", () => renew(box), { once: true });
    box.append(el("a", { href: file.url, target: "_blank", rel: "noopener noreferrer" }, image));
  } else {
    box.append(el("a", { href: file.url || "#", target: "_blank", rel: "noopener noreferrer", download: label }, `📄 ${label}`));
  }
  return box;
}

async function renew(box) {
  if (!box.dataset.attachmentId) return;
  const file = await request("GET", `/api/attachments/${encodeURIComponent(box.dataset.attachmentId)}`);
  for (const link of box.querySelectorAll("a")) link.href = file.url;
  for (const image of box.querySelectorAll("img")) image.src = file.url;
}

// A file from the agent: a presigned POST straight to S3, then a message that references it (the
// server checks the object before it stores the message).
async function sendFile(file) {
  const sessionId = state.current;
  if (!sessionId || conv.readOnly) return;
  const clientMsgId = crypto.randomUUID();
  const pending = messageNode({ sender: { type: "agent", id: state.me.agent_id, name: state.me.display_name },
    text: file.name }, false);
  pending.dataset.clientMsgId = clientMsgId; // the message arriving on the socket first replaces it
  $("conversation").append(pending);
  const fail = (reason) => { pending.querySelector(".receipt").textContent = t("conv.notSent", { error: reason }); };
  if (!FILE_TYPES.includes(file.type)) return fail(t("conv.fileType"));
  if (file.size > MAX_FILE_BYTES) return fail(t("conv.fileSize"));
  try {
    const created = await request("POST", "/api/attachments",
      { filename: file.name.slice(0, 200), content_type: file.type, size: file.size, session_id: sessionId });
    const form = new FormData();
    for (const [key, value] of Object.entries(created.upload.fields || {})) form.append(key, value);
    form.append("file", file);
    const uploaded = await fetch(created.upload.url, { method: "POST", body: form });
    if (!uploaded.ok) return fail(t("conv.fileRefused"));
    const { message } = await request("POST", `/api/sessions/${encodeURIComponent(sessionId)}/messages`,
      { text: "", client_msg_id: clientMsgId, attachment_id: created.attachment_id });
    pending.remove();
    addMessage(message);
  } catch (e) {
    fail(e.message || String(e));
  }
  return undefined;
}

// Read receipts concern the customer reading agents' replies; every message keeps its own author.
function renderReceipts() {
  for (const node of $("conversation").querySelectorAll("[data-sender=agent][data-id]:not([data-internal])")) {
    const isRead = node.dataset.id <= conv.readUpTo;
    node.dataset.read = String(isRead);
    node.querySelector(".receipt").textContent = isRead ? t("conv.read") : t("conv.sent");
  }
}

function markRead() {
  if (!state.current || document.hidden || conv.readOnly) return;
  let newest = "";
  for (const message of conv.messages.values()) {
    if (message.sender.type === "visitor" && message.id > newest) newest = message.id;
  }
  if (newest > conv.lastMarked && state.live.send({ action: "mark_read", session_id: state.current, up_to: newest })) {
    conv.lastMarked = newest;
  }
}

function setTyping(isTyping) {
  clearTimeout(conv.timers.typing);
  if (isTyping) conv.timers.typing = setTimeout(() => setTyping(false), 2500);
  if (isTyping === conv.typingSent || !state.current) return;
  conv.typingSent = isTyping;
  state.live.send({ action: "typing", session_id: state.current, is_typing: isTyping });
}

// REST sends are idempotent by client_msg_id: retry until the server answers.
async function send() {
  const text = $("message-input").value.trim();
  const sessionId = state.current;
  const internal = conv.note;
  if (!text || !sessionId || conv.readOnly) return;
  $("message-input").value = "";
  setTyping(false);
  const clientMsgId = crypto.randomUUID();
  const pending = messageNode({ sender: { type: "agent", id: state.me.agent_id, name: state.me.display_name },
    text, internal }, internal);
  pending.dataset.clientMsgId = clientMsgId;
  $("conversation").append(pending);
  $("conv-body").scrollTop = $("conv-body").scrollHeight;
  for (let attempt = 0; ; attempt++) {
    try {
      const { message } = await request("POST", `/api/sessions/${encodeURIComponent(sessionId)}/messages`,
        { text, client_msg_id: clientMsgId, internal });
      addMessage(message);
      return;
    } catch (e) {
      if (e instanceof ApiError && e.status < 500 && e.status !== 429) {
        pending.querySelector(".receipt").textContent = t("conv.notSent", { error: e.message });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(10000, 500 * 2 ** attempt)));
    }
  }
}

// ---- end and transfer ---------------------------------------------------------------------------

async function end() {
  if (!state.current) return;
  try {
    await request("POST", `/api/sessions/${encodeURIComponent(state.current)}/end`);
  } catch (e) {
    alert(t("conv.couldNot", { what: t("conv.end"), error: e.message }));
  }
}

async function loadTransferTargets() {
  const { agents } = await request("GET", "/api/kefu/agents");
  const options = agents.filter((a) => a.agent_id !== state.me.agent_id).map((a) =>
    el("option", { value: a.agent_id }, `${a.display_name || a.agent_id} (${t(`status.${a.status}`)}, ${a.active}/${a.max_concurrent})`));
  const chosen = $("transfer-agent").value;
  $("transfer-agent").replaceChildren(el("option", { value: "" }, t("conv.anyAgent")), ...options);
  $("transfer-agent").value = options.some((o) => o.value === chosen) ? chosen : "";
}

async function transfer() {
  const sessionId = state.current;
  const note = $("transfer-note").value.trim();
  try {
    await request("POST", `/api/sessions/${encodeURIComponent(sessionId)}/transfer`,
      { agent_id: $("transfer-agent").value || null, ...(note ? { note } : {}) });
    $("transfer-note").value = "";
    emit("dropped", sessionId);
  } catch (e) {
    alert(t("conv.couldNot", { what: t("conv.transfer"), error: e.message }));
  }
}
