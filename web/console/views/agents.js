// Agents (admins): create; edit name, capacity and role in place; disable or enable; reset a
// password; delete after a confirmation.
import { el, request } from "../api.js";
import { t } from "../i18n.js";
import { table } from "./kit.js";

// The list comes from an index that shows a new agent only a moment later: an agent the console
// just created or changed is shown as the API returned it, whether or not the list has it yet.
export async function show(root, just = null, gone = null) {
  const { agents: listed } = await request("GET", "/api/agents");
  let list = listed.filter((a) => a.agent_id !== gone);
  if (just) list = [...list.filter((a) => a.agent_id !== just.agent_id), just];
  list.sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
  const form = el("form", { testid: "agent-create", class: "inline-form" },
    el("input", { name: "username", placeholder: t("agents.username"), "aria-label": t("agents.username"), required: "" }),
    el("input", { name: "password", type: "password", placeholder: t("agents.password"), "aria-label": t("agents.password"), required: "", minlength: "8" }),
    el("input", { name: "display_name", placeholder: t("agents.name"), "aria-label": t("agents.name") }),
    el("select", { name: "role", "aria-label": t("agents.role") }, el("option", { value: "agent" }, t("role.agent")), el("option", { value: "admin" }, t("role.admin"))),
    el("input", { name: "max_concurrent", type: "number", min: "0", max: "1000", value: "5", class: "narrow", "aria-label": t("agents.capacity") }),
    el("button", { type: "submit" }, t("agents.create")),
    el("span", { class: "error", role: "alert" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try {
      const created = await request("POST", "/api/agents", { username: data.username, password: data.password,
        display_name: data.display_name || null, role: data.role, max_concurrent: Number(data.max_concurrent) });
      show(root, created);
    } catch (e) {
      form.querySelector(".error").textContent = e.message;
    }
  });
  const patch = (agent, body) => request("PATCH", `/api/agents/${encodeURIComponent(agent.agent_id)}`, body)
    .then((changed) => show(root, changed)).catch((e) => alert(e.message));
  const name = (a) => a.display_name || a.username;
  const resetPassword = async (agent) => {
    const password = prompt(t("agents.newPassword", { name: name(agent) }));
    if (!password) return;
    try {
      await request("PATCH", `/api/agents/${encodeURIComponent(agent.agent_id)}`, { password });
      alert(t("agents.passwordSet", { name: name(agent) }));
    } catch (e) {
      alert(e.message);
    }
  };
  const remove = async (agent) => {
    if (!confirm(t("agents.confirmDelete", { name: name(agent) }))) return;
    try {
      await request("DELETE", `/api/agents/${encodeURIComponent(agent.agent_id)}`);
      show(root, null, agent.agent_id);
    } catch (e) {
      alert(e.message);
    }
  };
  root.replaceChildren(el("h2", {}, t("agents.title")), form, table(list.map((a) => ({ ...a, id: a.agent_id })), [
    { label: t("agents.name"), cell: (a) => el("input", { value: a.display_name || "", "aria-label": t("agents.name"), testid: "agent-name",
      onchange: (e) => e.target.value.trim() && patch(a, { display_name: e.target.value.trim() }) }) },
    { label: t("agents.username"), cell: (a) => a.username },
    { label: t("agents.status"), cell: (a) => (a.disabled ? t("agents.disabled") : t(`status.${a.status}`)) },
    { label: t("agents.load"), cell: (a) => `${a.active}/${a.max_concurrent}` },
    { label: t("agents.capacity"), cell: (a) => el("input", { type: "number", min: "0", max: "1000", value: String(a.max_concurrent),
      class: "narrow", "aria-label": t("agents.capacity"), onchange: (e) => patch(a, { max_concurrent: Number(e.target.value) }) }) },
    { label: t("agents.role"), cell: (a) => {
      const select = el("select", { "aria-label": t("agents.role"), onchange: (e) => patch(a, { role: e.target.value }) },
        el("option", { value: "agent" }, t("role.agent")), el("option", { value: "admin" }, t("role.admin")));
      select.value = a.role;
      return select;
    } },
    { label: "", cell: (a) => el("span", { class: "actions" },
      a.disabled
        ? el("button", { type: "button", testid: "agent-enable", onclick: () => patch(a, { disabled: false }) }, t("agents.enable"))
        : el("button", { type: "button", testid: "agent-disable", onclick: () => patch(a, { disabled: true }) }, t("agents.disable")),
      el("button", { type: "button", testid: "agent-reset-password", onclick: () => resetPassword(a) }, t("agents.reset")),
      el("button", { type: "button", class: "danger", testid: "agent-delete", onclick: () => remove(a) }, t("agents.delete"))) },
  ]));
}
