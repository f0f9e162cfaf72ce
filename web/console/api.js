// REST with the agent's bearer token, and the live WebSocket (reconnects with backoff, pings).

const API = (document.querySelector("meta[name=kefu-api]")?.content || location.origin).replace(/\/$/, "");
const TOKEN_KEY = "kefu.console";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error;
  }
}

export const auth = {
  load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || "null");
      return saved && Date.parse(saved.expires_at) > Date.now() ? saved : null;
    } catch (e) {
      return null;
    }
  },
  save(login) { sessionStorage.setItem(TOKEN_KEY, JSON.stringify(login)); },
  clear() { sessionStorage.removeItem(TOKEN_KEY); },
  // This browser's device token per username: logins that send it back are not slowed down by
  // anyone else's failed logins (docs/design.md, "Limits").
  deviceToken(username) { return localStorage.getItem(`kefu.device.${username.toLowerCase()}`) || undefined; },
  keepDeviceToken(username, token) { if (token) localStorage.setItem(`kefu.device.${username.toLowerCase()}`, token); },
};

export async function request(method, path, body, token = auth.load()?.token) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`${API}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) throw new ApiError(response.status, typeof data === "object" ? data : null);
  return data;
}

export async function requestBlob(path) {
  const response = await fetch(`${API}${path}`, { headers: { Authorization: `Bearer ${auth.load()?.token}` } });
  if (!response.ok) throw new ApiError(response.status, null);
  return response.blob();
}

// One live socket: `on(type, fn)` for server frames, `send(frame)`; `onstate(fn)` for up/down.
export class Live {
  constructor(url, token) {
    this.url = url;
    this.token = token;
    this.handlers = new Map();
    this.stateHandlers = [];
    this.attempt = 0;
    this.closed = false;
    this.connect();
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
  }

  onstate(fn) { this.stateHandlers.push(fn); }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  // Each socket opens with a one-time ticket (POST /api/ws/ticket, good for 60 s), so the agent's
  // token never appears in a WebSocket URL.
  async socketUrl() {
    const { ticket } = await request("POST", "/api/ws/ticket", undefined, this.token);
    return `${this.url}?ticket=${encodeURIComponent(ticket)}`;
  }

  // Backoff with jitter: 0.5 s, 1 s, 2 s ... at most 15 s.
  reconnectLater() {
    const delay = Math.min(15000, 500 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
    this.attempt += 1;
    setTimeout(() => this.connect(), delay);
  }

  async connect() {
    let url;
    try {
      url = await this.socketUrl();
    } catch (e) {
      // No ticket (offline, the server busy, the session over): no socket, which would only be
      // refused; try again later (a refused token signs the agent out through the REST calls).
      if (!this.closed) this.reconnectLater();
      return;
    }
    if (this.closed) return;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.ping = setInterval(() => this.send({ action: "ping" }), 30000);
      this.send({ action: "ping" }); // a heartbeat first: presence rests on it
      this.stateHandlers.forEach((fn) => fn(true));
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      for (const fn of this.handlers.get(frame.type) || []) fn(frame);
      for (const fn of this.handlers.get("*") || []) fn(frame);
    });
    socket.addEventListener("close", () => {
      clearInterval(this.ping);
      this.stateHandlers.forEach((fn) => fn(false));
      if (this.closed || this.socket !== socket) return;
      this.reconnectLater();
    });
  }

  close() {
    this.closed = true;
    clearInterval(this.ping);
    this.socket?.close();
  }
}

// A DOM element with text set through textContent (never HTML).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "testid") node.dataset.testid = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
