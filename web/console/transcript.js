// System lines in the console's language, from what the server stored (docs/protocol.md,
// "System lines and internal notes"); the server's English text when the event is unknown.
import { t } from "./i18n.js";

export function systemText(message) {
  const line = message.system;
  if (!line) return message.text;
  const agent = (who) => who?.name || t("sys.anAgent");
  switch (line.event) {
    case "assigned":
      return t("sys.assigned", { agent: agent(line.agent) });
    case "transferred": {
      const moved = t("sys.transferred", { from: agent(line.from_agent), to: agent(line.agent) });
      return line.note ? `${moved}. ${t("sys.transferNote", { note: line.note })}` : moved;
    }
    case "requeued":
      return t("sys.requeued", { agent: agent(line.agent) });
    case "ended":
      if (line.by?.type === "visitor") return t("sys.endedByVisitor", { name: line.by.name || t("sys.theCustomer") });
      if (line.by?.type === "agent") return t("sys.endedByAgent", { name: agent(line.by) });
      return t(`sys.end.${line.reason}`) === `sys.end.${line.reason}` ? t("sys.end.other") : t(`sys.end.${line.reason}`);
    case "rated": {
      const rated = t("sys.rated", { rating: line.rating });
      return line.comment ? `${rated} ${t("conv.ratingComment", { comment: line.comment })}` : rated;
    }
    default:
      return message.text;
  }
}
