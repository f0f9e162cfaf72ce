/* kefu widget: the wiring. Resolves the settings (GET /api/widget/settings, then the tag's data-*
 * attributes for this page), builds the panel, asks whether anyone can answer before the visitor
 * writes, and runs the host page's commands:
 *   kefu("identify", {user_id, name, email, attributes, user_hash})   who the visitor is
 *   kefu("open") / kefu("close")
 * Calls made before the script loaded wait in window.kefu.q (see widget.js) and run here in order. */
(function (kefu) {
  "use strict";

  const MAX_FILE_BYTES = 10 * 1024 * 1024;
  const FILE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"];
  const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
  const FIELD_MODES = ["off", "optional", "required"];

  const tag = kefu.tag;
  const data = tag.dataset;
  const API = (data.api || new URL(tag.src, location.href).origin).replace(/\/$/, "");
  const api = kefu.api.createApi(API);

  const fieldMode = (value, fallback) => (FIELD_MODES.includes(value) ? value : fallback);

  function resolveOptions(settings) {
    const lang = kefu.i18n.pickLanguage([data.lang, settings.lang, ...(navigator.languages || [navigator.language])]);
    const pick = (attribute, setting) => (attribute !== undefined && attribute !== "" ? attribute : kefu.i18n.localized(setting, lang));
    const prechat = settings.prechat || {};
    return {
      lang,
      color: pick(data.color, settings.color),
      position: pick(data.position, settings.position) === "left" ? "left" : "right",
      title: pick(data.title, settings.title),
      greeting: pick(data.greeting, settings.greeting),
      offlineText: pick(data.offlineText, settings.offline_text),
      avatar: pick(data.avatar, settings.avatar_url),
      prechat: {
        name: fieldMode(data.prechatName, fieldMode(prechat.name, "optional")),
        email: fieldMode(data.prechatEmail, fieldMode(prechat.email, "off")),
      },
      wsUrl: data.ws || settings.websocket_url || "",
    };
  }

  async function loadSettings() {
    try {
      const settings = (await api.settings()) || {};
      // (No Origin header, as from a page on the API's own origin: no CORS involved.)
      if (settings.cors && settings.cors.origin && settings.cors.allowed === false) api.reportCors();
      return settings;
    } catch (e) {
      return {}; // the defaults and the tag's attributes are enough to chat
    }
  }

  /** Where the conversation starts: stored with it for the agent (docs/protocol.md, context). */
  function pageContext(lang) {
    const context = { url: location.href.slice(0, 2048), title: document.title.slice(0, 300), language: (navigator.language || lang).slice(0, 35) };
    if (document.referrer) context.referrer = document.referrer.slice(0, 2048);
    try {
      context.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (e) {
      /* no time zone: the agent sees the rest */
    }
    return context;
  }

  async function start() {
    const settings = await loadSettings();
    const options = resolveOptions(settings);
    const t = kefu.i18n.translator(options.lang);
    const view = kefu.view.createView(t, options);
    const identity = {};
    const profile = { name: "", email: "" };
    let isOpen = false;
    let canAnswer = true;

    function showAlert(text) {
      view.alert.textContent = text;
      view.show(view.alert, Boolean(text));
    }

    function showNotice(text) {
      view.notice.textContent = text;
      view.show(view.notice, Boolean(text));
    }

    const knownEmail = () => profile.email || identity.email || "";

    /** The away note and the email field: when nobody can answer and no conversation is taken yet. */
    function showAway(offlineText) {
      const status = chat.status();
      const away = status === "offline" || (!canAnswer && (status === null || status === "ended"));
      if (offlineText) view.offline.textContent = offlineText;
      view.show(view.offline, away && !chat.isEnded());
      view.show(view.emailRow, away && !chat.isEnded() && !knownEmail());
    }

    const chat = kefu.chat.createChat({
      api,
      view,
      t,
      wsUrl: options.wsUrl,
      greeting: options.greeting,
      isOpen: () => isOpen,
      profile() {
        const body = {};
        for (const key of ["user_id", "user_hash", "attributes"]) if (identity[key] !== undefined) body[key] = identity[key];
        const name = profile.name || identity.name;
        if (name) body.name = name;
        if (knownEmail()) body.email = knownEmail();
        return body;
      },
      context: () => pageContext(options.lang),
      onStatus(status, frame) {
        showAway(frame.offline_text);
      },
      onRefused(code, item, message) {
        const file = (item.attachment && item.attachment.name) || "";
        if (code === "attachment_rejected") showAlert(t("file_refused", { file, reason: t("file_not_allowed") }));
        else if (code === "attachment_too_large") showAlert(t("file_too_large", { file }));
        else if (code === "unsupported_type") showAlert(t("file_wrong_type", { file }));
        else showAlert(file ? t("file_refused", { file, reason: message || code }) : t("not_sent_reason", { reason: message || code }));
      },
      onPrechatRequired() {
        showPrechat(true);
      },
    });

    // ---- open and close ------------------------------------------------------------------------

    const isHidden = (node) => node.classList.contains("hidden");

    function firstField() {
      if (!isHidden(view.prechat)) return [...view.prechat.querySelectorAll("input")].find((input) => !isHidden(input.parentNode)) || view.prechat.querySelector("button");
      if (!isHidden(view.composer)) return view.input;
      if (!isHidden(view.rating)) return view.comment.disabled ? view.transcript : view.comment;
      return view.closeButton;
    }

    function showPrechat(required) {
      view.show(view.prechat, true);
      view.show(view.body, false);
      view.show(view.composer, false);
      if (required) {
        // The server's settings require what this page's tag may not ask: ask for both.
        options.prechat.name = options.prechat.name === "off" ? "optional" : options.prechat.name;
        options.prechat.email = options.prechat.email === "off" ? "optional" : options.prechat.email;
        view.show(view.name.parentNode, true);
        view.show(view.prechatEmail.parentNode, true);
        view.prechatError.textContent = t("prechat_needed");
        view.show(view.prechatError, true);
      }
      if (isOpen) firstField().focus();
      else setOpen(true);
    }

    const asksPrechat = () => options.prechat.name !== "off" || options.prechat.email !== "off";

    function setOpen(open, { returnFocus = true } = {}) {
      isOpen = open;
      view.root.classList.toggle("open", open);
      view.launcher.setAttribute("aria-expanded", String(open));
      view.launcherLabel.textContent = open ? t("close") : t("launcher");
      if (open) {
        if (chat.hasConversation() || chat.isKnownVisitor() || !asksPrechat()) chat.showChat();
        chat.panelOpened();
        checkAvailability();
        firstField().focus();
      } else if (returnFocus) {
        view.launcher.focus();
      }
      chat.updateLauncher();
    }

    /** Before the visitor writes: can anyone answer? (The server decides again on the first message.) */
    async function checkAvailability() {
      const status = chat.status();
      if (status === "active" || status === "queued") return;
      try {
        const answer = await api.availability();
        canAnswer = answer.can_answer !== false;
        showAway(answer.offline_text || options.offlineText || t("offline"));
      } catch (e) {
        /* unknown: the first message finds out */
      }
    }

    view.launcher.addEventListener("click", () => setOpen(!isOpen));
    view.preview.addEventListener("click", () => setOpen(true));
    view.closeButton.addEventListener("click", () => setOpen(false));
    view.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        setOpen(false);
      }
    });
    document.addEventListener("visibilitychange", () => chat.updateLauncher());

    // ---- pre-chat: remembered locally, sent with the first message ------------------------------

    view.prechat.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = view.name.value.trim();
      const email = view.prechatEmail.value.trim();
      let problem = "";
      if (options.prechat.name === "required" && !name) problem = t("name_missing");
      else if ((email || options.prechat.email === "required") && !EMAIL.test(email)) problem = t("email_invalid");
      view.prechatError.textContent = problem;
      view.show(view.prechatError, Boolean(problem));
      if (problem) return;
      if (name) profile.name = name;
      if (email) profile.email = email;
      chat.showChat();
      showAway();
      view.input.focus();
      if (chat.isKnownVisitor() && (name || email)) {
        try {
          await chat.updateProfile({ ...(name ? { name } : {}), ...(email ? { email } : {}) });
        } catch (e) {
          showAlert(t("unreachable"));
        }
      }
      chat.release();
    });

    // ---- composing ---------------------------------------------------------------------------------

    /** The email typed in the away note: kept for the sign-up, or stored now. */
    async function takeEmail() {
      const email = view.email.value.trim();
      if (!email || email === profile.email) return true;
      if (!EMAIL.test(email)) {
        showAlert(t("email_invalid"));
        view.email.focus();
        return false;
      }
      profile.email = email;
      try {
        await chat.updateProfile({ email });
      } catch (e) {
        profile.email = "";
        showAlert(t("unreachable"));
        return false;
      }
      return true;
    }

    async function submit() {
      const text = view.input.value.trim();
      if (!text || !(await takeEmail())) return;
      showAlert("");
      if (chat.send(text)) view.input.value = "";
      showAway();
    }

    view.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    view.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    });
    view.input.addEventListener("input", () => chat.setTyping(view.input.value.length > 0));
    view.email.addEventListener("change", () => {
      if (chat.isKnownVisitor()) takeEmail().then((ok) => ok && showAway());
    });

    // ---- attachments: checked here, uploaded straight to S3, then sent ---------------------------

    async function attach(file) {
      if (!FILE_TYPES.includes(file.type)) return showAlert(t("file_wrong_type", { file: file.name }));
      if (file.size > MAX_FILE_BYTES) return showAlert(t("file_too_large", { file: file.name }));
      showAlert("");
      showNotice(t("uploading", { file: file.name }));
      try {
        const token = await chat.ensureVisitor();
        const body = { filename: file.name.slice(0, 200), content_type: file.type, size: file.size };
        if (chat.sessionId() && !chat.isEnded()) body.session_id = chat.sessionId();
        const created = await api.createAttachment(token, body);
        await api.upload(created.upload, file);
        const ref = { id: created.attachment_id, name: file.name, content_type: file.type, size: file.size };
        // Shown from the visitor's own copy until the stored message brings S3's (never persisted).
        chat.send(view.input.value.trim(), ref, URL.createObjectURL(file));
        view.input.value = "";
      } catch (e) {
        const code = e && e.code;
        if (code === "attachment_too_large" || code === "EntityTooLarge") showAlert(t("file_too_large", { file: file.name }));
        else if (code === "unsupported_type") showAlert(t("file_wrong_type", { file: file.name }));
        else showAlert(t("file_failed", { file: file.name }));
      } finally {
        showNotice("");
      }
      return undefined;
    }

    view.attach.addEventListener("change", () => {
      const file = view.attach.files && view.attach.files[0];
      if (file) attach(file).finally(() => { view.attach.value = ""; });
    });

    // Download URLs are presigned for minutes (docs/protocol.md, Attachments): a picture that fails
    // to load, or a link clicked once its URL has expired, asks for a fresh one.
    async function freshUrl(box) {
      const file = await api.attachment(chat.token(), box.dataset.attachmentId);
      box.dataset.expiresAt = file.url_expires_at || "";
      for (const link of box.querySelectorAll("a")) link.href = file.url;
      for (const image of box.querySelectorAll("img")) image.src = file.url;
      return file.url;
    }
    const attachmentBox = (node) => (node && node.closest ? node.closest("[data-testid=kefu-attachment][data-attachment-id]") : null);
    view.list.addEventListener("error", (event) => {
      const box = attachmentBox(event.target);
      if (!box || box.dataset.refreshed) return;
      box.dataset.refreshed = "true"; // once: a picture that fails again is gone for good
      freshUrl(box).catch(() => null);
    }, true); // a failed image's error event does not bubble
    view.list.addEventListener("click", (event) => {
      const link = event.target.closest && event.target.closest("a");
      const box = attachmentBox(link);
      if (!box || Date.parse(box.dataset.expiresAt) > Date.now() + 5000) return;
      event.preventDefault();
      const opened = window.open("", "_blank"); // now, while the click lets it open
      if (opened) opened.opener = null;
      freshUrl(box).then((url) => { if (opened) opened.location.href = url; })
        .catch(() => { if (opened) opened.close(); });
    });

    // ---- the end: rating, transcript, a new chat -------------------------------------------------------

    view.endButton.addEventListener("click", () => chat.end());
    for (const star of view.starButtons) {
      star.addEventListener("click", () => chat.rate(Number(star.dataset.value), view.comment.value.trim()));
    }
    view.again.addEventListener("click", () => {
      chat.newChat();
      showAway();
      view.input.focus();
    });
    view.transcript.addEventListener("click", async () => {
      const typed = view.email.value.trim();
      const email = typed || knownEmail();
      if (typed && !EMAIL.test(typed)) return showAlert(t("email_invalid"));
      showAlert("");
      try {
        const answer = await api.transcript(chat.token(), chat.sessionId(), email || undefined);
        if (email) profile.email = email;
        view.show(view.emailRow, false);
        showNotice(t("transcript_sent", { email: answer.sent_to || email }));
      } catch (e) {
        if (e && e.code === "email_required") {
          view.show(view.emailRow, true);
          showAlert(t("transcript_needs_email"));
          view.email.focus();
        } else {
          showAlert(t("transcript_failed"));
        }
      }
      return undefined;
    });

    // ---- the host page's commands --------------------------------------------------------------------

    const commands = {
      identify(traits) {
        if (!traits || typeof traits !== "object" || !traits.user_id) {
          console.error("kefu: identify needs at least a user_id");
          return;
        }
        const sent = {};
        for (const key of ["user_id", "name", "email", "attributes", "user_hash"]) {
          if (traits[key] !== undefined && traits[key] !== null) identity[key] = sent[key] = traits[key];
        }
        sent.user_id = String(sent.user_id);
        chat.identify(sent);
      },
      open: () => setOpen(true),
      close: () => setOpen(false, { returnFocus: false }),
    };

    function run(call) {
      const [command, ...args] = Array.from(call);
      if (Object.prototype.hasOwnProperty.call(commands, command)) commands[command](...args);
      else console.warn(`kefu: unknown command ${JSON.stringify(command)}`);
    }

    (document.body || document.documentElement).append(view.host);
    chat.boot();
    for (const call of kefu.queue.splice(0)) run(call);
    window.kefu = function () {
      run(arguments);
    };
    kefu.ready = true;
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})(window.__kefu);
