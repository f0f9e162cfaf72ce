// What the console's parts share: who is logged in, the live socket, and a small event bus, so
// the inbox, the conversation, the customer panel and the alerts do not import one another.
export const state = {
  me: null, // the agent as GET /api/agents/me answers
  live: null, // the Live socket
  current: null, // the session open in the conversation view
  versions: new Map(), // session_id -> [version, position_seq] of the newest state applied; kept after a drop
};

const listeners = new Map();

export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, []);
  listeners.get(event).push(fn);
}

export function emit(event, detail) {
  for (const fn of listeners.get(event) || []) fn(detail);
}

// Session frames come from different servers in any order: the newest by (version, position_seq)
// wins (docs/protocol.md, "Session versions"); REST bodies carry the version too.
export function isNewest(session) {
  if (typeof session.version !== "number") return true;
  const key = [session.version, session.position_seq || 0];
  const held = state.versions.get(session.session_id);
  if (held && (key[0] < held[0] || (key[0] === held[0] && key[1] < held[1]))) return false;
  state.versions.set(session.session_id, key);
  return true;
}
