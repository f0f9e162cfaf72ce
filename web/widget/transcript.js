/* kefu widget: the conversation as shown. Messages keyed by id (so history pages, pushes and acks
 * may overlap and arrive in any order: each shows once, in id order), messages still being sent
 * (by client_msg_id, always last), system lines, read receipts, and the launcher's unread count and
 * preview. It knows nothing of the network. */
(function (kefu) {
  "use strict";

  /** ``ctx``: {view, t, greeting, isVisible(), isOpen(), onSeen(upTo)}. */
  function createTranscript(ctx) {
    const { view, t } = ctx;
    const list = view.list;
    const state = {
      messages: new Map(), // message id -> message
      readUpTo: "", // the newest of the visitor's messages the agent has read
      seenUpTo: "", // the newest agent message the visitor has seen (kept across reloads)
      serverSystemLines: false, // the server stores system lines as messages: they replace ours
    };

    const byId = (id) => list.querySelector(`[data-id="${CSS.escape(id)}"]`);
    const pendingNode = (clientMsgId) => list.querySelector(`[data-client-msg-id="${CSS.escape(clientMsgId || "")}"]`);
    const firstPending = () => list.querySelector("[data-client-msg-id]");
    const scrollDown = () => { view.body.scrollTop = view.body.scrollHeight; };
    // Whether the visitor reads the newest line: a picture that loads later keeps it in view then.
    let atBottom = true;
    view.body.addEventListener("scroll", () => {
      atBottom = view.body.scrollHeight - view.body.scrollTop - view.body.clientHeight < 24;
    }, { passive: true });
    function reveal(node) {
      for (const image of node.querySelectorAll("img")) {
        image.addEventListener("load", () => { if (atBottom) scrollDown(); }, { once: true });
      }
      scrollDown();
    }

    function clear() {
      state.messages.clear();
      state.readUpTo = "";
      state.seenUpTo = "";
      state.serverSystemLines = false;
      for (const node of [...list.children]) if (!node.dataset.clientMsgId) node.remove();
    }

    /** Before the conversation exists the greeting from the settings opens it; once it exists, the
     * stored greeting (the conversation's first message) takes its place. */
    function showLocalGreeting() {
      if (!ctx.greeting || list.querySelector("[data-origin=greeting]")) return;
      const node = view.messageNode({ sender: { type: "system" }, kind: "greeting", text: ctx.greeting });
      node.dataset.origin = "greeting";
      list.prepend(node);
    }

    function dropLocalGreeting() {
      const local = list.querySelector("[data-origin=greeting]");
      if (local) local.remove();
    }

    /** A stored system line in the visitor's language when its event is known (docs/protocol.md,
     * "System lines"), else the server's English sentence. */
    function systemText(message) {
      const event = message.system || {};
      const name = (event.agent && event.agent.name) || t("an_agent");
      switch (event.event) {
        case "assigned":
          return t("joined", { name });
        case "transferred":
          return t("transferred", { name });
        case "requeued":
          return t("requeued");
        case "ended":
          return { visitor: t("ended_by_visitor"), agent: t("ended_by_agent") }[event.by && event.by.type] || t("ended");
        case "rated":
          return t("rated_line", { rating: event.rating });
        default:
          return message.text;
      }
    }

    function nodeFor(message) {
      const isLine = message.sender.type === "system" && message.kind !== "greeting";
      const node = isLine ? view.systemNode(systemText(message), message.created_at) : view.messageNode(message);
      node.dataset.id = message.id;
      return node;
    }

    // Ids sort by time: insert in order, whatever order history and pushes arrive in. A message
    // that was being sent takes its place, so it stays before a system line heard meanwhile.
    function insertInOrder(node, id, waiting) {
      const after = [...list.querySelectorAll("[data-id]")].find((other) => other.dataset.id > id);
      if (waiting && !(after && after.compareDocumentPosition(waiting) & Node.DOCUMENT_POSITION_FOLLOWING)) waiting.replaceWith(node);
      else list.insertBefore(node, after || firstPending() || null);
      reveal(node);
    }

    /** Show a stored message (once); a visitor's message replaces its "sending" copy. */
    function add(message) {
      const known = state.messages.get(message.id);
      state.messages.set(message.id, known && known.read_at && !message.read_at ? { ...message, read_at: known.read_at } : message);
      const waiting = message.sender.type === "visitor" ? pendingNode(message.client_msg_id) : null;
      if (message.sender.type === "visitor" && message.read_at && message.id > state.readUpTo) state.readUpTo = message.id;
      if (message.kind === "greeting") dropLocalGreeting();
      else if (message.sender.type === "system" && !state.serverSystemLines) {
        state.serverSystemLines = true; // the server's lines say it better: drop the ones we made up
        for (const node of list.querySelectorAll("[data-origin=frame]")) node.remove();
      }
      const existing = byId(message.id);
      if (!existing) insertInOrder(nodeFor(message), message.id, waiting);
      else {
        if (waiting) waiting.remove();
        if (message.attachment && !existing.querySelector("[data-testid=kefu-attachment]")) existing.replaceWith(nodeFor(message));
      }
      renderReceipts();
      updateLauncher();
    }

    function markDeleted(ids) {
      for (const id of ids) {
        const message = state.messages.get(id);
        if (!message) continue;
        const deleted = { ...message, text: "", attachment: null, deleted: true };
        state.messages.set(id, deleted);
        const old = byId(id);
        if (old) old.replaceWith(nodeFor(deleted));
      }
      renderReceipts();
      updateLauncher();
    }

    function addPending(clientMsgId, text, attachment) {
      const node = view.messageNode({ sender: { type: "visitor" }, text, attachment, created_at: new Date().toISOString() });
      node.dataset.clientMsgId = clientMsgId;
      node.querySelector(".kefu-meta").textContent = t("sending");
      list.append(node);
      reveal(node);
    }

    function failPending(clientMsgId) {
      const node = pendingNode(clientMsgId);
      if (!node) return;
      node.dataset.failed = "true";
      node.removeAttribute("data-client-msg-id");
      node.querySelector(".kefu-meta").textContent = t("not_sent");
    }

    function dropPending(clientMsgId) {
      const node = pendingNode(clientMsgId);
      if (node) node.remove();
    }

    /** A line made up from a session frame (joined, transferred, back in the queue, ended), unless
     * the server stores its own. */
    function addSystem(key, text) {
      if (state.serverSystemLines || list.querySelector(`[data-system="${CSS.escape(key)}"]`)) return;
      const node = view.systemNode(text);
      node.dataset.system = key;
      node.dataset.origin = "frame";
      list.append(node); // after what the visitor had written before hearing of it
      reveal(node);
    }

    function readUpTo(upTo) {
      if (upTo > state.readUpTo) state.readUpTo = upTo;
      renderReceipts();
    }

    function renderReceipts() {
      for (const node of list.querySelectorAll("[data-sender=visitor][data-id]")) {
        const isRead = node.dataset.id <= state.readUpTo;
        node.dataset.read = String(isRead);
        node.querySelector(".kefu-meta").textContent = isRead ? t("read") : t("sent");
      }
    }

    function newestKnown() {
      let newest = "";
      for (const id of state.messages.keys()) if (id > newest) newest = id;
      return newest;
    }

    /** The visitor looks at the conversation: everything shown is seen (and read, for the agent). */
    function markSeen() {
      if (!ctx.isVisible()) return;
      let newest = "";
      for (const message of state.messages.values()) {
        if (message.sender.type !== "visitor" && message.id > newest) newest = message.id;
      }
      if (newest > state.seenUpTo) state.seenUpTo = newest;
      if (newest) ctx.onSeen(newest);
    }

    function unread() {
      return [...state.messages.values()]
        .filter((m) => m.sender.type === "agent" && m.id > state.seenUpTo && !m.read_at && !m.deleted)
        .sort((a, b) => (a.id < b.id ? -1 : 1));
    }

    /** The launcher's badge and preview: agent messages the visitor has not seen. */
    function updateLauncher() {
      markSeen();
      const waiting = ctx.isVisible() ? [] : unread();
      view.unread.textContent = String(waiting.length);
      view.show(view.unread, waiting.length > 0);
      const label = view.launcherLabel.textContent;
      view.launcher.setAttribute("aria-label", waiting.length ? `${label} (${t("unread", { count: waiting.length })})` : label);
      const last = waiting[waiting.length - 1];
      view.show(view.preview, Boolean(last) && !ctx.isOpen());
      if (last) {
        view.previewName.textContent = last.sender.name || t("an_agent");
        view.previewText.textContent = last.text || (last.attachment && last.attachment.name) || t("attachment");
      }
    }

    return {
      state,
      clear,
      add,
      markDeleted,
      addPending,
      failPending,
      dropPending,
      addSystem,
      readUpTo,
      newestKnown,
      updateLauncher,
      showLocalGreeting,
      dropLocalGreeting,
      get seenUpTo() {
        return state.seenUpTo;
      },
      set seenUpTo(value) {
        state.seenUpTo = value || "";
      },
    };
  }

  kefu.transcript = { createTranscript };
})(window.__kefu);
