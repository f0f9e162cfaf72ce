// Who is online (admins): one compact row per person: name, role, status, load and capacity,
// since when; a button closes all their sockets.
import { el, request } from "../api.js";
import { time, t } from "../i18n.js";
import { table } from "./kit.js";

const REFRESH_MS = 5000;
let refresh = null;

/** The view, read again every few seconds while it is on screen (who is online changes by itself). */
export async function show(root) {
  clearTimeout(refresh);
  const { users } = await request("GET", "/api/system/online-users?role=agent");
  refresh = setTimeout(() => { if (root.isConnected && root.offsetParent !== null) show(root); }, REFRESH_MS);
  const rows = (users || []).map((u) => ({ ...u, id: u.user_id }));
  root.replaceChildren(el("h2", {}, t("online.title")), rows.length ? table(rows, [
    { label: t("online.name"), cell: (u) => u.name || "–" },
    { label: t("online.role"), cell: (u) => (u.role ? t(`role.${u.role}`) : "–") },
    { label: t("online.status"), cell: (u) => el("span", { class: `status ${u.status}` }, t(`status.${u.status}`)) },
    { label: t("online.load"), cell: (u) => (u.capacity === undefined ? "–" : `${u.load}/${u.capacity}`) },
    { label: t("online.since"), cell: (u) => (u.since ? time(u.since) : "–") },
    { label: "", cell: (u) => el("button", { type: "button", testid: "disconnect-user", onclick: async () => {
      await request("POST", `/api/users/${encodeURIComponent(u.user_id)}/disconnect`, {}).catch((e) => alert(e.message));
      show(root);
    } }, t("online.disconnect")) },
  ], { testid: "online-table", class: "compact" }) : el("p", { class: "empty" }, t("online.nobody")));
}
