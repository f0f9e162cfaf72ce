/* kefu widget: its DOM, inside an open shadow root on a <kefu-widget> element of the host page.
 * Nothing here talks to the network. Every text from the network goes in with textContent, never as
 * HTML; no style attribute is ever written (a strict CSP would refuse it): state shows through
 * classes and data-* attributes that the adopted stylesheet reads. */
(function (kefu) {
  "use strict";

  const SVG = "http://www.w3.org/2000/svg";
  const ACCEPT = "image/png,image/jpeg,image/gif,image/webp,application/pdf,.png,.jpg,.jpeg,.gif,.webp,.pdf";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "testid") node.dataset.testid = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const HOST_STYLE = [["display", "block"], ["position", "static"], ["visibility", "visible"], ["opacity", "1"],
    ["transform", "none"], ["filter", "none"], ["contain", "none"], ["margin", "0"], ["padding", "0"], ["border", "0"]];

  const show = (node, visible) => node.classList.toggle("hidden", !visible);

  /** A paperclip drawn in SVG: an emoji depends on the visitor's fonts. */
  function paperclip() {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "20");
    svg.setAttribute("height", "20");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", "M21 11.5l-8.6 8.6a5.5 5.5 0 01-7.8-7.8l8.6-8.6a3.7 3.7 0 015.2 5.2l-8.6 8.6a1.8 1.8 0 01-2.6-2.6l7.9-7.9");
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linecap", "round");
    svg.append(path);
    return svg;
  }

  /** A labelled field: <label>text <input></label> (a label around its control needs no id). */
  function field(labelText, control) {
    const label = el("label", { class: "field" });
    label.append(el("span", {}, labelText), control);
    return { label, control, text: label.firstChild };
  }

  function timeNode(when) {
    const { iso, text, full } = kefu.i18n.formatTime(when);
    return el("time", { datetime: iso, title: full }, text);
  }

  /** Builds the widget; ``t`` is the translator, ``options`` the resolved settings. */
  function createView(t, options) {
    const host = el("kefu-widget");
    // Host rules may still match the host element itself (`* {display:none}`): inline declarations
    // set through the CSSOM (allowed under any CSP) outrank them. Inherited properties stop at .root.
    for (const [property, value] of HOST_STYLE) host.style.setProperty(property, value, "important");
    const shadow = host.attachShadow({ mode: "open" });
    shadow.adoptedStyleSheets = [kefu.style.styleSheet()];

    const root = el("div", { class: "root", "data-position": options.position === "left" ? "left" : "right" });
    if (options.color && CSS.supports("color", options.color)) root.style.setProperty("--kefu-accent", options.color);
    root.lang = options.lang;

    const panel = el("section", { class: "panel", id: "kefu-panel", role: "dialog", "aria-label": t("dialog"), testid: "kefu-panel" });
    const head = el("header", { class: "head" });
    // Only when set: an <img> with no source is still an image to a page (and to tests counting them).
    const headAvatar = options.avatar ? el("img", { class: "head-avatar", src: options.avatar, alt: "" }) : null;
    const headText = el("div", { class: "head-text" });
    const title = el("h2", { class: "title", id: "kefu-title" }, options.title || t("title"));
    const status = el("div", { class: "status", testid: "kefu-status", role: "status", "aria-live": "polite" }, "");
    headText.append(title, status);
    const endButton = el("button", { class: "end hidden", testid: "kefu-end", type: "button" }, t("end"));
    const closeButton = el("button", { class: "close", testid: "kefu-close", type: "button", "aria-label": t("close"), title: t("close") }, "×");
    if (headAvatar) head.append(headAvatar);
    head.append(headText, endButton, closeButton);

    // Pre-chat: the greeting and the optional (or required) name and email; it creates nothing.
    const prechat = el("form", { class: "prechat", testid: "kefu-prechat", novalidate: true });
    const greeting = el("p", { class: "greeting", testid: "kefu-greeting" }, options.greeting || t("greeting"));
    const name = field(options.prechat.name === "required" ? t("name_required") : t("name_optional"),
      el("input", { testid: "kefu-name", name: "name", maxlength: "100", autocomplete: "name", required: options.prechat.name === "required" }));
    const prechatEmail = field(options.prechat.email === "required" ? t("email_required") : t("email_optional"),
      el("input", { testid: "kefu-prechat-email", name: "email", type: "email", maxlength: "254", autocomplete: "email", required: options.prechat.email === "required" }));
    show(name.label, options.prechat.name !== "off");
    show(prechatEmail.label, options.prechat.email !== "off");
    const prechatError = el("p", { class: "alert hidden", role: "alert" });
    prechat.append(greeting, name.label, prechatEmail.label, prechatError, el("button", { type: "submit", class: "primary", testid: "kefu-start" }, t("start")));

    const body = el("div", { class: "body hidden", testid: "kefu-body" });
    const list = el("ol", { class: "messages", testid: "kefu-messages", "aria-live": "polite", "aria-label": t("dialog") });
    body.append(list);
    const typing = el("div", { class: "typing hidden", testid: "kefu-typing", "aria-live": "polite" });

    const offline = el("p", { class: "offline hidden", testid: "kefu-offline", role: "note" }, options.offlineText || t("offline"));
    const emailRow = el("div", { class: "email hidden" });
    const email = field(t("email_offline"), el("input", { testid: "kefu-email", name: "email", type: "email", maxlength: "254", autocomplete: "email" }));
    emailRow.append(email.label);
    const alert = el("p", { class: "alert hidden", testid: "kefu-error", role: "alert" });
    const notice = el("p", { class: "notice hidden", testid: "kefu-notice", role: "status" });

    const composer = el("form", { class: "composer hidden", testid: "kefu-composer" });
    const attachLabel = el("label", { class: "attach", title: t("attach") });
    const attach = el("input", { type: "file", testid: "kefu-attach", accept: ACCEPT, "aria-label": t("attach") });
    attachLabel.append(attach, paperclip());
    const inputLabel = el("label", { class: "sr", for: "kefu-input" }, t("message_label"));
    const input = el("textarea", { id: "kefu-input", testid: "kefu-input", placeholder: t("placeholder"), maxlength: "4000", rows: "1" });
    const send = el("button", { type: "submit", class: "primary", testid: "kefu-send" }, t("send"));
    composer.append(attachLabel, inputLabel, input, send);

    const rating = el("div", { class: "rating hidden", testid: "kefu-rating" });
    const comment = field(t("rate_comment"), el("textarea", { testid: "kefu-rate-comment", maxlength: "2000" }));
    const stars = el("div", { class: "stars", role: "group", "aria-label": t("rate_question") });
    const starButtons = [];
    for (let n = 1; n <= 5; n++) {
      const star = el("button", { type: "button", class: "star", testid: `kefu-rate-${n}`, "aria-label": t("star", { n }), "aria-pressed": "false" }, "★");
      star.dataset.value = String(n);
      starButtons.push(star);
      stars.append(star);
    }
    const actions = el("div", { class: "actions" });
    const transcript = el("button", { type: "button", class: "secondary", testid: "kefu-transcript" }, t("transcript"));
    const again = el("button", { type: "button", class: "primary hidden", testid: "kefu-new" }, t("new_chat"));
    actions.append(transcript, again);
    rating.append(el("p", {}, t("rate_question")), comment.label, stars, actions);

    panel.append(head, prechat, body, typing, offline, emailRow, alert, notice, composer, rating);

    const preview = el("button", { type: "button", class: "preview hidden", testid: "kefu-preview" });
    const previewName = el("b", {});
    const previewText = el("span", {});
    preview.append(previewName, previewText);
    // The badge sits beside the launcher, not in it: the launcher's text stays its label.
    const launcherWrap = el("div", { class: "launcher-wrap" });
    const launcher = el("button", { class: "launcher", testid: "kefu-launcher", type: "button", "aria-controls": "kefu-panel", "aria-expanded": "false" });
    const launcherLabel = el("span", {}, t("launcher"));
    const unread = el("span", { class: "badge hidden", testid: "kefu-unread", "aria-hidden": "true" }, "0");
    launcher.append(launcherLabel);
    launcherWrap.append(launcher, unread);
    root.append(panel, preview, launcherWrap);
    shadow.append(root);

    /** One message: a bubble with its text and attachment, the sender's name and avatar for an
     * agent, its time, and a receipt line for the visitor's own. */
    function messageNode(message) {
      const sender = message.sender || { type: "visitor" };
      const node = el("li", { class: "msg", testid: "kefu-message" });
      node.dataset.sender = sender.type;
      if (message.kind) node.dataset.kind = message.kind;
      const row = el("div", { class: "msg-row" });
      if (sender.type === "agent") {
        const shownName = sender.name || t("an_agent");
        node.dataset.senderName = shownName;
        node.append(el("span", { class: "sender" }, shownName));
        const avatar = sender.avatar_url || options.avatar; // the agent's own, else the shop's
        if (avatar) row.append(el("img", { class: "avatar", src: avatar, alt: "" }));
      }
      const bubble = el("div", { class: "bubble" });
      bubble.append(el("span", { class: "kefu-text" }, message.deleted ? t("deleted") : message.text || ""));
      if (message.deleted) node.dataset.deleted = "true";
      const file = !message.deleted && (message.attachment || (message.attachments && message.attachments[0]));
      if (file) bubble.append(attachmentNode(file));
      row.append(bubble);
      const foot = el("div", { class: "foot" });
      foot.append(timeNode(message.created_at), el("span", { class: "kefu-meta" }, ""));
      node.append(row, foot);
      return node;
    }

    function attachmentNode(file) {
      const wrap = el("div", { class: "file", testid: "kefu-attachment" });
      const url = file.url || file.download_url || file.preview_url || "";
      const kind = file.content_type || file.type || "";
      const label = file.name || file.filename || t("attachment");
      if (file.id && file.url_expires_at) {
        wrap.dataset.attachmentId = file.id; // its URL expires: main.js asks for a fresh one then
        wrap.dataset.expiresAt = file.url_expires_at;
      }
      if (kind.startsWith("image/") && url) {
        const link = el("a", { href: url, target: "_blank", rel: "noopener noreferrer" });
        link.append(el("img", { src: url, alt: label, loading: "lazy" }));
        wrap.append(link);
      } else {
        wrap.append(el("a", { href: url || "#", target: "_blank", rel: "noopener noreferrer", download: label }, `📄 ${label}`));
      }
      return wrap;
    }

    /** A system line (joined, transferred, back in the queue, ended...). */
    function systemNode(text, when) {
      const node = el("li", { class: "system", testid: "kefu-system", role: "note" });
      node.dataset.sender = "system";
      node.append(el("span", { class: "kefu-text" }, text), timeNode(when));
      return node;
    }

    function setStars(chosen, locked) {
      for (const star of starButtons) {
        const value = Number(star.dataset.value);
        star.dataset.lit = String(value <= chosen);
        star.setAttribute("aria-pressed", String(value === chosen));
        star.disabled = Boolean(locked);
      }
      rating.dataset.chosen = chosen ? String(chosen) : "";
    }

    return {
      host, shadow, root, panel, status, endButton, closeButton, prechat, name: name.control, prechatEmail: prechatEmail.control,
      prechatError, body, list, typing, offline, emailRow, email: email.control, alert, notice, composer, attach, input, send,
      rating, comment: comment.control, starButtons, transcript, again, preview, previewName, previewText, launcher,
      launcherLabel, unread, title, greeting, headAvatar,
      show, messageNode, systemNode, setStars, attachmentNode,
    };
  }

  kefu.view = { createView, el };
})(window.__kefu);
