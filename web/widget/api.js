/* kefu widget: the REST calls it makes (docs/protocol.md, "The widget's backend").
 *
 * A page whose origin the API refuses sees only a failed fetch; the widget says why in the console,
 * naming KEFU_CORS_ORIGINS: the public settings answer any origin and tell whether this one is on
 * the list, and a failed call is followed by a no-cors probe (it resolves when the server answered
 * at all, so the refusal was CORS, not the network). */
(function (kefu) {
  "use strict";

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || code || `HTTP ${status}`);
      this.status = status;
      this.code = code || "";
    }
  }

  function createApi(base) {
    let corsReported = false;

    function reportCors() {
      if (corsReported) return;
      corsReported = true;
      console.error(
        `kefu: this page's origin ${location.origin} is not in KEFU_CORS_ORIGINS, so the API at ${base} ` +
          `refuses its requests: add ${location.origin} to KEFU_CORS_ORIGINS on the API's stage (docs/hosting.md).`,
      );
    }

    async function diagnose() {
      if (corsReported || !navigator.onLine || new URL(base).origin === location.origin) return;
      try {
        await fetch(`${base}/api/system/health`, { mode: "no-cors", cache: "no-store" });
      } catch (e) {
        return; // unreachable: a network problem, not a refused origin
      }
      reportCors();
    }

    /** JSON in, JSON out; an ApiError for an answer that is not 2xx, a TypeError for no answer. */
    async function request(method, path, { token, body, query } = {}) {
      const url = new URL(`${base}${path}`);
      for (const [key, value] of Object.entries(query || {})) if (value !== undefined && value !== null) url.searchParams.set(key, value);
      const headers = {};
      if (token) headers.Authorization = `Bearer ${token}`;
      if (body !== undefined) headers["Content-Type"] = "application/json";
      let response;
      try {
        response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (e) {
        diagnose();
        throw e;
      }
      const text = await response.text();
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch (e) {
        data = null;
      }
      if (!response.ok) throw new ApiError(response.status, data && data.error, data && data.message);
      return data;
    }

    /** S3's answer to a refused upload is XML: its <Code> says why (EntityTooLarge, AccessDenied...). */
    async function upload(target, file) {
      const form = new FormData();
      for (const [key, value] of Object.entries(target.fields || {})) form.append(key, value);
      form.append("file", file);
      let response;
      try {
        response = await fetch(target.url, { method: "POST", body: form });
      } catch (e) {
        throw new ApiError(0, "upload_failed", String(e));
      }
      if (!response.ok) {
        const text = await response.text();
        const code = (/<Code>([^<]+)<\/Code>/.exec(text) || [])[1] || "upload_failed";
        throw new ApiError(response.status, code, code);
      }
    }

    return {
      request,
      reportCors,
      settings: () => request("GET", "/api/widget/settings"),
      availability: () => request("GET", "/api/widget/availability"),
      signUp: (profile) => request("POST", "/api/visitors", { body: profile }),
      updateProfile: (token, profile) => request("PATCH", "/api/visitors/me", { token, body: profile }),
      identify: (token, traits) => request("POST", "/api/visitors/me/identify", { token, body: traits }),
      transcript: (token, sessionId, email) => request("POST", `/api/sessions/${encodeURIComponent(sessionId)}/transcript`, { token, body: email ? { email } : {} }),
      session: (token, sessionId) => request("GET", `/api/sessions/${encodeURIComponent(sessionId)}`, { token }),
      createAttachment: (token, file) => request("POST", "/api/attachments", { token, body: file }),
      attachment: (token, id) => request("GET", `/api/attachments/${encodeURIComponent(id)}`, { token }),
      wsTicket: (token) => request("POST", "/api/ws/ticket", { token }),
      upload,
      /** Whether a stored token is still accepted (a refused WebSocket handshake looks like any
       * failed connection to a page; REST tells them apart). */
      async isTokenAccepted(token) {
        try {
          await request("GET", "/api/sessions", { token, query: { limit: 1 } });
          return true;
        } catch (e) {
          return !(e instanceof ApiError && (e.status === 401 || e.status === 403));
        }
      },
    };
  }

  kefu.api = { createApi, ApiError };
})(window.__kefu);
