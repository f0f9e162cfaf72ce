/* kefu widget: the conversation, over the WebSocket protocol of docs/protocol.md.
 *
 * - Nothing is created before the visitor acts: their first message signs them up (once; the token
 *   is kept in localStorage), opens the socket and is sent without a session id, which opens the
 *   conversation. Until it can be sent, a message waits in a local queue under its client_msg_id
 *   (kept in localStorage too: a reload does not lose it).
 * - Messages go one at a time, the next once the previous one is acknowledged (API Gateway orders
 *   nothing between frames), and each is sent again until acknowledged (the same client_msg_id is
 *   stored once). A refused one is marked "not sent", never dropped silently.
 * - While a conversation is open the socket stays open, also with the panel closed and after a
 *   reload, so the launcher can count unread replies. After a reconnect the history pages back until
 *   it meets what is already shown: nothing missed, nothing twice (transcript.js).
 * - Session frames carry (version, position_seq): an older one is dropped.
 */
(function (kefu) {
  "use strict";

  const VISITOR_KEY = "kefu.visitor";
  const CONVERSATION_KEY = "kefu.conversation";
  const PING_MS = 30000;
  const RESEND_MS = 4000;
  const TYPING_IDLE_MS = 2500;
  const OPEN_STATUSES = ["queued", "active", "offline"];
  // Refusals after which the same message is simply sent again later.
  const TRANSIENT = ["rate_limited", "attachment_not_uploaded"];

  function readJson(key) {
    try {
      return JSON.parse(localStorage.getItem(key) || "null");
    } catch (e) {
      return null; // a corrupt entry is the same as none
    }
  }

  function loadVisitor() {
    const saved = readJson(VISITOR_KEY);
    return saved && saved.token && Date.parse(saved.expires_at) > Date.now() + 60000 ? saved : null;
  }

  const newId = () => (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random().toString(16).slice(2)}`;

  /**
   * ``ctx``: {api, view, t, wsUrl, greeting, isOpen(), profile(), context(), onStatus(status, frame),
   * onRefused(code, item, message), onPrechatRequired()}. ``profile()`` is the sign-up body (name,
   * email, identity); ``context()`` the page the conversation starts on.
   */
  function createChat(ctx) {
    const { api, view, t } = ctx;
    const state = {
      visitor: loadVisitor(),
      socket: null,
      sessionId: null,
      status: null, // "queued" | "active" | "offline" | "ended" of the session shown
      agent: null,
      ended: false,
      rated: 0,
      starting: false, // a first message is on its way: the session it opens is ours
      versions: new Map(), // session id -> [version, position_seq] of the newest session frame applied
      pending: new Map(), // client_msg_id -> {text, attachment, sentAt, held}, in the order written
      lastMarked: "",
      reloadFloor: "",
      attempt: 0,
      connecting: false, // the socket's URL is on its way
      generation: 0, // of connects: a later one, or a disconnect, cancels an earlier one
      signUpAttempt: 0,
      timers: {},
      typingSent: false,
    };
    const isVisible = () => ctx.isOpen() && !document.hidden;
    const transcript = kefu.transcript.createTranscript({
      view, t, greeting: ctx.greeting, isVisible, isOpen: ctx.isOpen, onSeen: markRead,
    });

    const saved = readJson(CONVERSATION_KEY);
    if (saved && (!state.visitor || saved.visitor_id === state.visitor.visitor_id)) {
      if (state.visitor) {
        state.sessionId = saved.session_id || null;
        transcript.seenUpTo = saved.seen_up_to;
        state.rated = saved.rated || 0;
      }
      for (const item of saved.pending || []) state.pending.set(item.client_msg_id, { text: item.text, attachment: item.attachment, sentAt: 0 });
    }

    function saveConversation() {
      const pending = [...state.pending].map(([clientMsgId, item]) => ({ client_msg_id: clientMsgId, text: item.text, attachment: item.attachment }));
      if (!state.sessionId && !pending.length) {
        localStorage.removeItem(CONVERSATION_KEY);
        return;
      }
      localStorage.setItem(CONVERSATION_KEY, JSON.stringify({
        visitor_id: state.visitor && state.visitor.visitor_id,
        session_id: state.sessionId,
        seen_up_to: transcript.seenUpTo,
        rated: state.rated,
        pending,
      }));
    }

    function saveVisitor(signed) {
      const profile = signed.visitor || {};
      state.visitor = {
        visitor_id: signed.visitor_id || profile.visitor_id,
        token: signed.token,
        expires_at: signed.expires_at,
        name: signed.name || profile.name || null,
        user_id: signed.user_id || profile.user_id || null,
      };
      localStorage.setItem(VISITOR_KEY, JSON.stringify(state.visitor));
    }

    const setStatus = (text) => { view.status.textContent = text; };
    const isSocketOpen = () => Boolean(state.socket) && state.socket.readyState === WebSocket.OPEN;

    function changeStatus(status, data) {
      state.status = status;
      if (ctx.onStatus) ctx.onStatus(status, data || {});
    }

    function frame(data) {
      if (!isSocketOpen()) return false;
      state.socket.send(JSON.stringify(data));
      return true;
    }

    // ---- the panel's views -----------------------------------------------------------------------

    function showChat() {
      view.show(view.prechat, false);
      view.show(view.body, true);
      view.show(view.composer, !state.ended);
      view.show(view.rating, state.ended);
      view.show(view.endButton, Boolean(state.sessionId) && !state.ended);
      if (!state.sessionId) transcript.showLocalGreeting();
    }

    const hasConversation = () => Boolean(state.sessionId || state.pending.size);

    // ---- sign-up and socket ------------------------------------------------------------------------

    let signingUp = null;

    /** The visitor's token, signing them up first when there is none. */
    function ensureVisitor() {
      if (state.visitor) return Promise.resolve(state.visitor.token);
      if (!signingUp) {
        signingUp = api.signUp(ctx.profile()).then((signed) => {
          saveVisitor(signed);
          state.signUpAttempt = 0;
          saveConversation();
          return state.visitor.token;
        }).finally(() => { signingUp = null; });
      }
      return signingUp;
    }

    async function connectWhenSignedUp() {
      clearTimeout(state.timers.signUp);
      try {
        await ensureVisitor();
      } catch (e) {
        setStatus(t("unreachable"));
        const delay = Math.min(15000, 1000 * 2 ** state.signUpAttempt++);
        state.timers.signUp = setTimeout(connectWhenSignedUp, delay);
        return;
      }
      connect();
    }

    /** Where the socket opens (docs/protocol.md, "Connecting"): with a one-time ticket
     * (POST /api/ws/ticket, one connect within 60 s), so the long-lived token never appears in a
     * WebSocket URL (proxies log URLs). */
    async function socketUrl(token) {
      const { ticket } = await api.wsTicket(token);
      return `${ctx.wsUrl}?ticket=${encodeURIComponent(ticket)}`;
    }

    /** Try again after a backoff with jitter: 0.5 s, 1 s, 2 s ... at most 15 s. */
    function reconnectLater() {
      const delay = Math.min(15000, 500 * 2 ** state.attempt) * (0.75 + Math.random() / 2);
      state.attempt += 1;
      setStatus(t("reconnecting"));
      state.timers.reconnect = setTimeout(connect, delay);
    }

    async function connect() {
      clearTimeout(state.timers.reconnect);
      if (!state.visitor || state.socket || state.connecting) return;
      setStatus(state.attempt ? t("reconnecting") : t("connecting"));
      const generation = ++state.generation;
      state.connecting = true;
      let url;
      let refused = null;
      try {
        url = await socketUrl(state.visitor.token);
      } catch (e) {
        refused = e;
      } finally {
        state.connecting = false;
      }
      // Meanwhile the visitor may have been forgotten, or another connect won.
      if (generation !== state.generation || !state.visitor || state.socket) return;
      if (refused) {
        // No ticket, no socket (one would only be refused): a token refused means starting again,
        // anything else (offline, the server busy) trying again later.
        if (refused.status === 401 || refused.status === 403) forgetVisitor(); // an ApiError; a TypeError has none
        else reconnectLater();
        return;
      }
      const socket = new WebSocket(url);
      let opened = false;
      let revoked = false;
      state.socket = socket;
      socket.addEventListener("open", () => {
        opened = true;
        state.attempt = 0;
        if (state.status === null) setStatus("");
        clearInterval(state.timers.ping);
        state.timers.ping = setInterval(() => frame({ action: "ping" }), PING_MS);
        if (state.sessionId) {
          frame({ action: "get_session", session_id: state.sessionId });
          // Page back until we meet what we already had: nothing missed, however much came meanwhile.
          state.reloadFloor = transcript.newestKnown();
          frame({ action: "get_history", session_id: state.sessionId, limit: 100 });
        } else if (!state.pending.size) {
          frame({ action: "list_sessions" }); // another tab or device may have one open
        }
        const head = firstPending();
        if (head) head[1].sentAt = 0;
        pump();
      });
      socket.addEventListener("message", (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch (e) {
          return;
        }
        if (data && data.type === "disconnected" && ["tokens_revoked", "credentials_changed", "account_disabled"].includes(data.reason)) revoked = true;
        handle(data);
      });
      socket.addEventListener("close", async () => {
        clearInterval(state.timers.ping);
        if (state.socket !== socket) return; // closed on purpose
        state.socket = null;
        if (revoked || (!opened && navigator.onLine && !(await api.isTokenAccepted(state.visitor.token)))) {
          forgetVisitor();
          return;
        }
        reconnectLater();
      });
    }

    /** Close the socket without reconnecting (nothing open to follow, or a new token). */
    function disconnect() {
      state.generation += 1; // a connect still waiting for its URL gives up
      const socket = state.socket;
      state.socket = null;
      clearInterval(state.timers.ping);
      clearTimeout(state.timers.reconnect);
      if (socket) socket.close(1000);
    }

    /** The stored token is refused: start again from nothing, keeping what the visitor wrote. */
    function forgetVisitor() {
      localStorage.removeItem(VISITOR_KEY);
      state.visitor = null;
      resetConversation();
      if (state.pending.size) {
        connectWhenSignedUp();
        return;
      }
      view.show(view.body, false);
      view.show(view.composer, false);
      view.show(view.prechat, true);
      setStatus(t("start_again"));
    }

    function resetConversation() {
      state.sessionId = null;
      state.agent = null;
      state.ended = false;
      state.rated = 0;
      state.starting = false;
      state.lastMarked = "";
      transcript.clear();
      changeStatus(null);
      view.show(view.endButton, false);
      view.show(view.rating, false);
      view.show(view.typing, false);
      view.setStars(0, false);
      view.comment.value = "";
      view.comment.disabled = false;
      view.show(view.again, false);
      saveConversation();
      transcript.updateLauncher();
    }

    // ---- protocol ------------------------------------------------------------------------------------

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

    /** Whether a state frame is about the session shown, adopting it when it may be. */
    function isOurs(sessionId) {
      if (sessionId === state.sessionId) return true;
      // The one our first message opened, or one another tab of this visitor opened after ours ended.
      if (state.starting || !state.sessionId || state.ended) {
        adopt(sessionId);
        return true;
      }
      return false;
    }

    function handle(data) {
      if (!data || typeof data.type !== "string") return;
      const known = Boolean(data.session_id) && state.versions.has(data.session_id);
      if (data.type.startsWith("session.") && isStale(data)) {
        if (data.line && isOurs(data.session_id)) addMessage(data.line); // the stored line still belongs in the transcript
        return;
      }
      // A change seen as it happens gets a line in the transcript; the state found on (re)connecting
      // does not: the history tells what happened before.
      const live = known || state.starting;
      const ours = data.session_id === state.sessionId;
      switch (data.type) {
        case "session.queued":
          if (!isOurs(data.session_id)) break;
          if (live && state.status === "active") transcript.addSystem(`requeued-${data.version}`, t("requeued"));
          state.agent = null;
          changeStatus("queued", data);
          // Beyond the first waiters the server tells a band, again only when it changes (docs/protocol.md).
          if (Array.isArray(data.band)) setStatus(t("queued_band", { low: data.band[0], high: data.band[1] }));
          else setStatus(typeof data.position === "number" ? t("queued", { position: data.position }) : t("waiting"));
          break;
        case "session.offline":
          if (!isOurs(data.session_id)) break;
          changeStatus("offline", data);
          setStatus(t("offline_status"));
          break;
        case "session.assigned":
        case "session.transferred": {
          if (!isOurs(data.session_id)) break;
          const agent = data.agent || {};
          const name = agent.name || t("an_agent");
          if (data.line) addMessage(data.line); // the stored "joined" line, carried by the frame
          else if (live && data.type === "session.transferred") transcript.addSystem(`transferred-${data.version}`, t("transferred", { name }));
          else if (live && (state.status !== "active" || (state.agent && state.agent.id !== agent.id))) transcript.addSystem(`joined-${data.version}`, t("joined", { name }));
          state.agent = agent;
          changeStatus("active", data);
          setStatus(t("chatting", { name }));
          break;
        }
        case "session.ended":
          if (ours) finish(data.reason, live);
          break;
        case "session.rated":
          if (ours) rated(data.rating, data.comment);
          break;
        case "sessions": {
          const open = (data.sessions || []).find((s) => OPEN_STATUSES.includes(s.status));
          if (open && !state.sessionId) {
            adopt(open.session_id);
            frame({ action: "get_session", session_id: open.session_id });
          } else if (!open && !state.sessionId && !state.pending.size && !ctx.isOpen()) {
            disconnect(); // nothing to follow: opening the panel connects again
          }
          break;
        }
        case "message.ack": {
          const message = data.message;
          state.pending.delete(data.client_msg_id);
          if (message && message.session_id !== state.sessionId && (!state.sessionId || state.ended || state.starting)) adopt(message.session_id);
          state.starting = false;
          addMessage(message);
          saveConversation();
          pump();
          break;
        }
        case "message.new":
          if (data.message && data.message.session_id === state.sessionId) {
            addMessage(data.message);
            if (data.message.sender.type === "agent") view.show(view.typing, false);
          }
          break;
        case "message.deleted":
          if (ours) transcript.markDeleted(data.message_ids || []);
          break;
        case "history":
          if (ours) {
            transcript.dropLocalGreeting();
            (data.messages || []).forEach(addMessage);
            const oldest = (data.messages || []).reduce((low, m) => (low === null || m.id < low ? m.id : low), null);
            if (data.next && state.reloadFloor && oldest !== null && oldest > state.reloadFloor) {
              frame({ action: "get_history", session_id: state.sessionId, before: data.next, limit: 100 });
            } else {
              state.reloadFloor = "";
            }
          }
          break;
        case "typing":
          if (ours && data.user && data.user.type !== "visitor") {
            view.typing.textContent = data.user.name ? t("typing", { name: data.user.name }) : t("typing_anonymous");
            view.show(view.typing, data.is_typing);
          }
          break;
        case "message.read":
          if (ours && data.reader && data.reader.type !== "visitor") transcript.readUpTo(data.up_to);
          break;
        case "error":
          refused(data);
          break;
        default:
          break;
      }
    }

    function refused(data) {
      if (data.action === "send_message" && state.pending.has(data.client_msg_id)) {
        const item = state.pending.get(data.client_msg_id);
        if (TRANSIENT.includes(data.code)) return; // the resend timer tries again
        state.starting = false;
        if (data.code === "prechat_required") {
          item.held = true; // until the visitor gives what the shop asks for
          if (ctx.onPrechatRequired) ctx.onPrechatRequired();
          return;
        }
        state.pending.delete(data.client_msg_id);
        saveConversation();
        transcript.failPending(data.client_msg_id);
        if (ctx.onRefused) ctx.onRefused(data.code, item, data.message);
        pump();
      } else if (data.action === "rate_session" && data.code === "conflict") {
        refreshRating(); // rated already, in another tab
      } else if (data.action === "get_session" && (data.code === "not_found" || data.code === "forbidden")) {
        resetConversation();
        showChat();
      }
    }

    function adopt(sessionId) {
      if (state.sessionId === sessionId) return;
      if (state.sessionId) resetConversation();
      state.sessionId = sessionId;
      state.ended = false;
      state.rated = 0;
      saveConversation();
      view.show(view.endButton, true);
      view.show(view.composer, true);
      view.show(view.rating, false);
      frame({ action: "get_history", session_id: sessionId, limit: 100 });
    }

    function finish(reason, live) {
      state.ended = true;
      state.starting = false;
      changeStatus("ended", { reason });
      for (const clientMsgId of state.pending.keys()) transcript.dropPending(clientMsgId);
      state.pending.clear();
      view.show(view.endButton, false);
      view.show(view.composer, false);
      view.show(view.typing, false);
      view.show(view.rating, true);
      const why = { ended_by_visitor: t("ended_by_visitor"), ended_by_agent: t("ended_by_agent") }[reason] || t("ended");
      setStatus(why);
      if (live) transcript.addSystem(`ended-${state.sessionId}`, why);
      if (state.rated) rated(state.rated, null);
      if (!live) refreshRating(); // the star and the comment given before a reload
      saveConversation();
    }

    /** After a reload the rating is read back: the chosen star and the comment stay shown. */
    async function refreshRating() {
      if (!state.visitor || !state.sessionId) return;
      try {
        const session = await api.session(state.visitor.token, state.sessionId);
        if (session && session.rating) rated(session.rating, session.rating_comment);
      } catch (e) {
        /* the rating stays open: rating again answers conflict, which asks again */
      }
    }

    function rated(rating, comment) {
      state.rated = rating || state.rated;
      view.setStars(state.rated, true);
      if (comment) view.comment.value = comment;
      view.comment.disabled = true;
      view.show(view.again, true);
      setStatus(t("thanks"));
      saveConversation();
    }

    function addMessage(message) {
      if (!message || message.session_id !== state.sessionId) return;
      if (message.sender.type === "visitor") state.pending.delete(message.client_msg_id);
      transcript.add(message);
    }

    /** mark_read for what the visitor has seen (once per newest message). */
    function markRead(upTo) {
      if (!state.sessionId) return;
      saveConversation();
      if (upTo > state.lastMarked && frame({ action: "mark_read", session_id: state.sessionId, up_to: upTo })) state.lastMarked = upTo;
    }

    // ---- sending ----------------------------------------------------------------------------------------

    const firstPending = () => state.pending.entries().next().value;

    /** Queue a message (text and/or an uploaded attachment, shown from ``previewUrl`` until it is
     * stored) and send it as soon as it can be. */
    function send(text, attachment, previewUrl) {
      if (state.ended || (!text && !attachment)) return false;
      const clientMsgId = newId();
      state.pending.set(clientMsgId, { text, attachment, sentAt: 0 });
      saveConversation();
      showChat();
      transcript.addPending(clientMsgId, text, attachment && previewUrl ? { ...attachment, url: previewUrl } : attachment);
      setTyping(false);
      pump();
      return true;
    }

    /** Send the oldest unacknowledged message; again when its ack is overdue (the same
     * client_msg_id is stored once); the next one only after its ack. */
    function pump() {
      clearTimeout(state.timers.resend);
      const head = firstPending();
      if (!head) return;
      const [clientMsgId, item] = head;
      if (item.held) return;
      if (!state.visitor || (!state.socket && !state.connecting)) {
        connectWhenSignedUp();
        return;
      }
      if (!isSocketOpen()) return; // its open event pumps
      const now = Date.now();
      if (now - item.sentAt >= RESEND_MS) {
        const data = { action: "send_message", client_msg_id: clientMsgId, text: item.text || "" };
        if (item.attachment) data.attachment_id = item.attachment.id;
        if (state.sessionId && !state.ended) {
          data.session_id = state.sessionId;
        } else {
          data.context = ctx.context(); // this message opens the conversation
          state.starting = true;
        }
        frame(data);
        item.sentAt = now;
      }
      state.timers.resend = setTimeout(pump, RESEND_MS - (now - item.sentAt) + 50);
    }

    /** Send what waited for the visitor (a name or an email the shop requires) once they gave it. */
    function release() {
      for (const item of state.pending.values()) {
        item.held = false;
        item.sentAt = 0;
      }
      pump();
    }

    function setTyping(isTyping) {
      clearTimeout(state.timers.typing);
      if (isTyping) state.timers.typing = setTimeout(() => setTyping(false), TYPING_IDLE_MS);
      if (isTyping === state.typingSent || !state.sessionId || state.ended) return;
      state.typingSent = isTyping;
      frame({ action: "typing", session_id: state.sessionId, is_typing: isTyping });
    }

    // ---- who the visitor is ----------------------------------------------------------------------------

    /** identify: sign up with the identity, or tell the server; a verified identity that already has
     * a record comes back with that record's token, and with it its conversations. */
    async function identify(traits) {
      const stored = state.visitor;
      if (stored && stored.user_id && stored.user_id !== traits.user_id) {
        disconnect(); // another person on this browser: never show them the previous one's chat
        localStorage.removeItem(VISITOR_KEY);
        state.visitor = null;
        resetConversation();
      }
      if (signingUp) await signingUp.catch(() => null);
      if (state.visitor && state.visitor.identified === JSON.stringify(traits)) return;
      try {
        if (!state.visitor) {
          await ensureVisitor(); // the sign-up body carries the identity (ctx.profile)
        } else {
          const answer = await api.identify(state.visitor.token, traits);
          if (answer.switched && answer.token) {
            disconnect();
            saveVisitor(answer);
            resetConversation();
          } else {
            state.visitor.user_id = (answer.visitor && answer.visitor.user_id) || traits.user_id;
          }
        }
      } catch (e) {
        console.error(`kefu: identify was refused (${(e && e.code) || e}): ${(e && e.message) || ""}`);
        return;
      }
      state.visitor.identified = JSON.stringify(traits);
      localStorage.setItem(VISITOR_KEY, JSON.stringify(state.visitor));
      if (!state.socket) connect(); // their conversation may be open on another device
    }

    /** The visitor left an email (or a name): stored now when they are signed up, else at sign-up. */
    async function updateProfile(profile) {
      if (state.visitor) await api.updateProfile(state.visitor.token, profile);
    }

    // ---- what the panel asks of it ---------------------------------------------------------------------

    /** On page load: reconnect in the background when a conversation is open or a message waits. */
    function boot() {
      for (const [clientMsgId, item] of state.pending) transcript.addPending(clientMsgId, item.text, item.attachment);
      if (hasConversation()) {
        showChat();
        if (state.visitor) connect();
        else connectWhenSignedUp();
      }
    }

    /** The panel was opened: a known visitor reconnects (to find a conversation another tab opened). */
    function panelOpened() {
      if (state.visitor && !state.socket) connect();
      transcript.updateLauncher();
    }

    return {
      boot,
      panelOpened,
      updateLauncher: () => transcript.updateLauncher(),
      showChat,
      send,
      release,
      setTyping,
      identify,
      updateProfile,
      ensureVisitor,
      hasConversation,
      isKnownVisitor: () => Boolean(state.visitor),
      token: () => state.visitor && state.visitor.token,
      sessionId: () => state.sessionId,
      status: () => state.status,
      isEnded: () => state.ended,
      end: () => frame({ action: "end_session", session_id: state.sessionId }),
      rate(rating, comment) {
        view.setStars(rating, true);
        const data = { action: "rate_session", session_id: state.sessionId, rating };
        if (comment) data.comment = comment;
        if (!frame(data)) view.setStars(0, false);
      },
      newChat() {
        resetConversation();
        showChat();
      },
    };
  }

  kefu.chat = { createChat, VISITOR_KEY, CONVERSATION_KEY };
})(window.__kefu);
