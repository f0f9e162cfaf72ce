/* kefu customer widget: the one tag a shop puts on its pages,
 *   <script src="https://<where web/ is hosted>/widget.js" data-api="https://<REST API>" data-ws="wss://<WebSocket API>"></script>
 * optionally with data-lang, data-color, data-position, data-greeting, data-offline-text, data-title,
 * data-avatar, data-prechat-name, data-prechat-email to override the widget settings for one page.
 *
 * It loads the rest of the widget (web/widget/*.js: classic scripts from its own origin, executed in
 * order; no build step and nothing inline, so a strict Content-Security-Policy only has to allow this
 * origin: docs/hosting.md) and keeps the calls the page makes before the widget is ready, as
 * Intercom's command queue does:
 *   window.kefu = window.kefu || function () { (window.kefu.q = window.kefu.q || []).push(arguments); };
 *   kefu("identify", {user_id: "42", name: "Ann", email: "ann@example.com", user_hash: "<HMAC>"});
 */
(function () {
  "use strict";

  if (window.__kefu) return; // the tag twice on one page: one widget
  const tag = document.currentScript;
  const earlier = typeof window.kefu === "function" && Array.isArray(window.kefu.q) ? window.kefu.q : [];
  const kefu = (window.__kefu = { tag, queue: Array.from(earlier), ready: null });
  const keep = function () {
    kefu.queue.push(arguments);
  };
  keep.q = kefu.queue;
  window.kefu = keep; // main.js replaces it once the widget runs

  const base = new URL("widget/", tag.src);
  for (const part of ["i18n", "style", "api", "view", "transcript", "chat", "main"]) {
    const script = document.createElement("script");
    script.src = new URL(`${part}.js`, base).href;
    script.async = false; // run in this order
    if (tag.nonce) script.nonce = tag.nonce;
    (document.head || document.documentElement).append(script);
  }
})();
