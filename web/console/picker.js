// The saved-reply picker of the composer: typing `/` opens it, the letters after it filter by
// shortcut (then title and text), arrows move, Enter or a click inserts the reply with
// {{customer.name}} and {{agent.name}} filled in, Escape closes it.
import { el, request } from "./api.js";
import { t } from "./i18n.js";
import { on } from "./state.js";

const FRESH_MS = 30000;
const TOKEN = /(^|\s)\/([\w.-]*)$/;
let replies = null;
let loadedAt = 0;

on("canned.changed", () => { replies = null; });

async function savedReplies() {
  if (!replies || Date.now() - loadedAt > FRESH_MS) {
    replies = (await request("GET", "/api/canned-responses")).canned_responses;
    loadedAt = Date.now();
  }
  return replies;
}

export function fill(text, names) {
  return text.replaceAll("{{customer.name}}", names.customer).replaceAll("{{agent.name}}", names.agent);
}

function matching(all, query) {
  const q = query.toLowerCase();
  const starts = all.filter((r) => r.shortcut.toLowerCase().startsWith(q));
  const rest = all.filter((r) => !starts.includes(r) && `${r.shortcut} ${r.title || ""} ${r.text}`.toLowerCase().includes(q));
  return [...starts, ...rest].slice(0, 8);
}

export function attachPicker(input, list, names) {
  let shown = [];
  let selected = 0;
  let token = null; // the "/query" being typed: {start, end}

  const close = () => {
    list.hidden = true;
    shown = [];
    token = null;
  };

  const draw = () => {
    list.replaceChildren(...(shown.length ? shown.map((reply, i) => el("li", {
      testid: "canned-item", role: "option", "data-shortcut": reply.shortcut, "aria-selected": String(i === selected),
      class: i === selected ? "selected" : "", onmousedown: (e) => { e.preventDefault(); insert(reply); },
    }, el("b", {}, `/${reply.shortcut}`), " ", el("span", {}, reply.title || reply.text))) : [el("li", { class: "empty" }, t("conv.noCanned"))]));
    list.hidden = false;
  };

  const insert = (reply) => {
    if (!token) return;
    const text = fill(reply.text, names());
    input.value = input.value.slice(0, token.start) + text + input.value.slice(token.end);
    const caret = token.start + text.length;
    input.setSelectionRange(caret, caret);
    close();
    input.dispatchEvent(new Event("input"));
    input.focus();
  };

  input.addEventListener("input", async () => {
    const before = input.value.slice(0, input.selectionStart);
    const found = TOKEN.exec(before);
    if (!found) return close();
    const query = found[2];
    token = { start: before.length - query.length - 1, end: input.selectionStart };
    const all = await savedReplies().catch(() => []);
    if (!token) return; // closed meanwhile
    shown = matching(all, query);
    selected = 0;
    draw();
  });

  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!shown.length) return;
      selected = (selected + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      draw();
    } else if ((event.key === "Enter" || event.key === "Tab") && shown.length) {
      event.preventDefault();
      insert(shown[selected]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}
