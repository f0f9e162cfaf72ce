// Saved replies: the team's (admins add and remove them) and my own.
import { el, request } from "../api.js";
import { t } from "../i18n.js";
import { emit, state } from "../state.js";
import { table } from "./kit.js";

export async function show(root) {
  const { canned_responses: replies } = await request("GET", "/api/canned-responses");
  const isAdmin = state.me.role === "admin";
  const form = el("form", { testid: "canned-create", class: "inline-form" },
    el("input", { name: "shortcut", placeholder: t("replies.shortcut"), "aria-label": t("replies.shortcut"), required: "", pattern: "[\\w.\\-]{1,32}" }),
    el("textarea", { name: "text", placeholder: t("replies.text"), "aria-label": t("replies.text"), required: "", maxlength: "4000" }),
    isAdmin ? el("select", { name: "scope", "aria-label": t("replies.scope") },
      el("option", { value: "personal" }, t("replies.personal")), el("option", { value: "team" }, t("replies.team"))) : null,
    el("button", { type: "submit" }, t("replies.add")),
    el("span", { class: "error", role: "alert" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try {
      await request("POST", "/api/canned-responses", { shortcut: data.shortcut, text: data.text, scope: data.scope || "personal" });
      emit("canned.changed");
      show(root);
    } catch (e) {
      form.querySelector(".error").textContent = e.message;
    }
  });
  const mayDelete = (r) => r.scope === "personal" || isAdmin;
  root.replaceChildren(el("h2", {}, t("replies.title")), el("p", { class: "hint" }, t("replies.hint")), form,
    replies.length ? table(replies, [
      { label: t("replies.shortcut"), cell: (r) => `/${r.shortcut}` },
      { label: t("replies.text"), cell: (r) => r.text },
      { label: t("replies.scope"), cell: (r) => (r.scope === "team" ? t("replies.team") : t("replies.personal")) },
      { label: "", cell: (r) => (mayDelete(r) ? el("button", { type: "button", class: "danger", onclick: async () => {
        await request("DELETE", `/api/canned-responses/${encodeURIComponent(r.id)}`).catch((e) => alert(e.message));
        emit("canned.changed");
        show(root);
      } }, t("replies.delete")) : "") },
    ]) : el("p", { class: "empty" }, t("replies.none")));
}
