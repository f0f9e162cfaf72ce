// Every string of the console in a catalog (zh-CN and en, as the widget does): the language the
// agent chose (`lang-switch`, remembered in this browser), else the browser's.
const KEY = "kefu.console.lang";
export const LANGUAGES = { en: "English", "zh-CN": "中文" };

const CATALOG = {
  en: {
    "app.title": "kefu", "login.title": "kefu console", "login.username": "Username", "login.password": "Password",
    "login.submit": "Log in", "login.wrong": "Wrong username or password.", "logout": "Log out",
    "status.online": "Online", "status.away": "Away", "status.offline": "Offline", "status.label": "My status",
    "nav.chats": "Chats", "nav.agents": "Agents", "nav.online": "Online", "nav.stats": "Statistics",
    "nav.report": "Report", "nav.insights": "Insights", "nav.replies": "Saved replies",
    "notify.label": "Alerts", "lang.label": "Language",
    "inbox.mine": "Mine", "inbox.unassigned": "Unassigned", "inbox.closed": "Closed", "inbox.all": "All",
    "inbox.search": "Search name, email or conversation id", "inbox.noChats": "No chats yet",
    "inbox.nobodyWaiting": "Nobody is waiting", "inbox.noClosed": "No closed conversations",
    "inbox.noResults": "Nothing found", "inbox.more": "Older conversations", "inbox.accept": "Accept",
    "inbox.ended": "ended", "inbox.offline": "offline message",
    "visitor": "Visitor", "customer": "Customer",
    "conv.pick": "Pick a chat", "conv.transferTo": "Transfer to", "conv.anyAgent": "Any available agent",
    "conv.transferNote": "Note for the next agent (optional)", "conv.transfer": "Transfer", "conv.end": "End chat",
    "conv.older": "Load older messages", "conv.typing": "The customer is typing…", "conv.reply": "Reply… (type / for saved replies)",
    "conv.note": "Internal note: only agents see it", "conv.noteToggle": "Note", "conv.send": "Send", "conv.attach": "Send an image or a PDF", "conv.file": "file",
    "conv.fileType": "only images (PNG, JPEG, GIF, WebP) and PDFs", "conv.fileSize": "files up to 10 MB",
    "conv.fileRefused": "the upload was refused",
    "conv.readOnly": "This conversation is closed: read only.", "conv.sending": "Sending…", "conv.notSent": "Not sent: {error}",
    "conv.sent": "Sent", "conv.read": "Read", "conv.internal": "Internal note", "conv.couldNot": "Could not {what}: {error}",
    "conv.noCanned": "No saved reply matches", "conv.ratingComment": "“{comment}”",
    "sys.assigned": "{agent} joined the conversation",
    "sys.transferred": "{from} transferred the conversation to {to}",
    "sys.transferNote": "Note: {note}",
    "sys.requeued": "{agent} left; waiting for another agent",
    "sys.endedByVisitor": "{name} ended the conversation", "sys.endedByAgent": "{name} ended the conversation",
    "sys.end.timeout": "The conversation ended after a period without activity",
    "sys.end.visitor_left": "The conversation ended: the customer left",
    "sys.end.abandoned": "The customer left before an agent answered",
    "sys.end.duplicate": "Closed: the customer has another conversation open",
    "sys.end.other": "The conversation ended",
    "sys.rated": "The customer rated the conversation {rating}/5", "sys.theCustomer": "The customer",
    "sys.anAgent": "An agent",
    "cust.title": "Customer", "cust.email": "Email", "cust.verified": "Verified", "cust.unverified": "Not verified",
    "cust.page": "Page", "cust.referrer": "Came from", "cust.language": "Language", "cust.localTime": "Local time",
    "cust.browser": "Browser", "cust.os": "System", "cust.attributes": "Attributes", "cust.history": "Conversations",
    "cust.current": "this one", "cust.none": "No earlier conversations", "cust.unknown": "–",
    "alert.newChat": "New conversation", "alert.newChatBody": "{name} is waiting for you",
    "alert.newMessage": "New message from {name}",
    "agents.title": "Agents", "agents.username": "Username", "agents.password": "Password (8+)", "agents.name": "Display name",
    "agents.role": "Role", "agents.capacity": "Capacity", "agents.status": "Status", "agents.load": "Load",
    "agents.create": "Create agent", "agents.disable": "Disable", "agents.enable": "Enable", "agents.delete": "Delete",
    "agents.reset": "Reset password", "agents.confirmDelete": "Delete {name}? Their customers go back to the queue.",
    "agents.newPassword": "New password for {name} (8 characters or more)", "agents.passwordSet": "Password changed for {name}.",
    "agents.disabled": "disabled", "role.agent": "Agent", "role.admin": "Admin",
    "online.title": "Who is online", "online.name": "Name", "online.role": "Role", "online.status": "Status",
    "online.load": "Load", "online.since": "Since", "online.disconnect": "Disconnect", "online.nobody": "Nobody is online.",
    "stats.title": "Statistics", "stats.mine": "My statistics", "stats.period": "Period", "stats.today": "Today",
    "stats.7": "Last 7 days", "stats.30": "Last 30 days", "stats.started": "Conversations", "stats.ended": "Closed",
    "stats.abandoned": "Left before an answer", "stats.firstResponse": "Median first response",
    "stats.resolution": "Median resolution time", "stats.wait": "Median queue wait", "stats.csat": "CSAT",
    "stats.csatOf": "{average} / 5 from {count} ratings", "stats.none": "no data",
    "stats.perDay": "Conversations per day", "stats.perHour": "Conversations per hour",
    "stats.responseTimes": "Median first response and resolution per day", "stats.csatTrend": "CSAT per day",
    "stats.csatDistribution": "CSAT ratings", "stats.perAgent": "Per agent", "stats.agent": "Agent",
    "stats.messages": "Messages", "stats.utilisation": "Busy while online", "stats.csv": "Download CSV ({table})",
    "stats.table.summary": "summary", "stats.table.days": "days", "stats.table.hours": "hours",
    "stats.live": "Right now: {queued} waiting, {active} in conversation, {online} agents online",
    "stats.firstResponseLegend": "first response", "stats.resolutionLegend": "resolution",
    "report.title": "Report for {date}", "report.running": "(day still running)", "report.day": "Day",
    "insights.title": "Insights: the last {days} days against the {days} before", "insights.none": "Not enough data to say anything yet.",
    "insights.figure": "Figure", "insights.now": "Now", "insights.before": "Before", "insights.change": "Change",
    "replies.title": "Saved replies", "replies.shortcut": "Shortcut", "replies.text": "Text", "replies.scope": "For",
    "replies.team": "Everyone", "replies.personal": "Only me", "replies.add": "Add reply", "replies.delete": "Delete",
    "replies.hint": "Type / and the shortcut in a reply. {{customer.name}} and {{agent.name}} are filled in.",
    "replies.none": "No saved replies yet.",
    "unavailable": "Not available: this deployment of kefu does not offer this view yet.", "loading": "Loading…",
    "couldNotLoad": "Could not load: {error}", "nothing": "Nothing to show.",
    "seconds": "{n} s", "minutes": "{n} min", "hours": "{n} h",
  },
  "zh-CN": {
    "app.title": "客服", "login.title": "客服工作台", "login.username": "用户名", "login.password": "密码",
    "login.submit": "登录", "login.wrong": "用户名或密码错误。", "logout": "退出",
    "status.online": "在线", "status.away": "离开", "status.offline": "离线", "status.label": "我的状态",
    "nav.chats": "会话", "nav.agents": "客服", "nav.online": "在线", "nav.stats": "统计",
    "nav.report": "日报", "nav.insights": "洞察", "nav.replies": "快捷回复",
    "notify.label": "提醒", "lang.label": "语言",
    "inbox.mine": "我的", "inbox.unassigned": "未分配", "inbox.closed": "已结束", "inbox.all": "全部",
    "inbox.search": "搜索姓名、邮箱或会话编号", "inbox.noChats": "暂无会话",
    "inbox.nobodyWaiting": "没有人在等待", "inbox.noClosed": "没有已结束的会话",
    "inbox.noResults": "没有找到", "inbox.more": "更早的会话", "inbox.accept": "接入",
    "inbox.ended": "已结束", "inbox.offline": "离线留言",
    "visitor": "访客", "customer": "顾客",
    "conv.pick": "请选择一个会话", "conv.transferTo": "转接给", "conv.anyAgent": "任意空闲客服",
    "conv.transferNote": "给下一位客服的备注（可选）", "conv.transfer": "转接", "conv.end": "结束会话",
    "conv.older": "加载更早的消息", "conv.typing": "顾客正在输入…", "conv.reply": "回复…（输入 / 使用快捷回复）",
    "conv.note": "内部备注：仅客服可见", "conv.noteToggle": "备注", "conv.send": "发送", "conv.attach": "发送图片或 PDF", "conv.file": "文件",
    "conv.fileType": "仅支持图片（PNG、JPEG、GIF、WebP）和 PDF", "conv.fileSize": "文件不超过 10 MB",
    "conv.fileRefused": "上传被拒绝",
    "conv.readOnly": "此会话已结束：只读。", "conv.sending": "发送中…", "conv.notSent": "未发送：{error}",
    "conv.sent": "已发送", "conv.read": "已读", "conv.internal": "内部备注", "conv.couldNot": "无法{what}：{error}",
    "conv.noCanned": "没有匹配的快捷回复", "conv.ratingComment": "“{comment}”",
    "sys.assigned": "{agent} 加入了会话",
    "sys.transferred": "{from} 将会话转接给 {to}",
    "sys.transferNote": "备注：{note}",
    "sys.requeued": "{agent} 已离开，正在等待其他客服",
    "sys.endedByVisitor": "{name} 结束了会话", "sys.endedByAgent": "{name} 结束了会话",
    "sys.end.timeout": "会话因长时间无活动而结束",
    "sys.end.visitor_left": "会话已结束：顾客已离开",
    "sys.end.abandoned": "顾客在客服接入前离开",
    "sys.end.duplicate": "已关闭：顾客有另一个进行中的会话",
    "sys.end.other": "会话已结束",
    "sys.rated": "顾客给本次会话打了 {rating}/5 分", "sys.theCustomer": "顾客",
    "sys.anAgent": "一位客服",
    "cust.title": "顾客", "cust.email": "邮箱", "cust.verified": "已验证", "cust.unverified": "未验证",
    "cust.page": "页面", "cust.referrer": "来源", "cust.language": "语言", "cust.localTime": "当地时间",
    "cust.browser": "浏览器", "cust.os": "系统", "cust.attributes": "属性", "cust.history": "会话记录",
    "cust.current": "当前", "cust.none": "没有更早的会话", "cust.unknown": "–",
    "alert.newChat": "新会话", "alert.newChatBody": "{name} 正在等你",
    "alert.newMessage": "{name} 发来新消息",
    "agents.title": "客服", "agents.username": "用户名", "agents.password": "密码（至少 8 位）", "agents.name": "显示名称",
    "agents.role": "角色", "agents.capacity": "接待上限", "agents.status": "状态", "agents.load": "当前接待",
    "agents.create": "创建客服", "agents.disable": "停用", "agents.enable": "启用", "agents.delete": "删除",
    "agents.reset": "重置密码", "agents.confirmDelete": "删除 {name}？其顾客将回到队列。",
    "agents.newPassword": "{name} 的新密码（至少 8 位）", "agents.passwordSet": "已修改 {name} 的密码。",
    "agents.disabled": "已停用", "role.agent": "客服", "role.admin": "管理员",
    "online.title": "在线人员", "online.name": "姓名", "online.role": "角色", "online.status": "状态",
    "online.load": "接待", "online.since": "上线时间", "online.disconnect": "断开", "online.nobody": "当前无人在线。",
    "stats.title": "统计", "stats.mine": "我的统计", "stats.period": "时间段", "stats.today": "今天",
    "stats.7": "最近 7 天", "stats.30": "最近 30 天", "stats.started": "会话数", "stats.ended": "已结束",
    "stats.abandoned": "未接入即离开", "stats.firstResponse": "首次响应中位数",
    "stats.resolution": "解决时长中位数", "stats.wait": "排队等待中位数", "stats.csat": "满意度",
    "stats.csatOf": "{average} / 5（{count} 个评分）", "stats.none": "暂无数据",
    "stats.perDay": "每日会话数", "stats.perHour": "各小时会话数",
    "stats.responseTimes": "每日首次响应与解决时长中位数", "stats.csatTrend": "每日满意度",
    "stats.csatDistribution": "满意度评分分布", "stats.perAgent": "按客服", "stats.agent": "客服",
    "stats.messages": "消息数", "stats.utilisation": "在线时忙碌占比", "stats.csv": "下载 CSV（{table}）",
    "stats.table.summary": "汇总", "stats.table.days": "按天", "stats.table.hours": "按小时",
    "stats.live": "此刻：{queued} 人等待，{active} 个会话进行中，{online} 位客服在线",
    "stats.firstResponseLegend": "首次响应", "stats.resolutionLegend": "解决时长",
    "report.title": "{date} 日报", "report.running": "（当天尚未结束）", "report.day": "日期",
    "insights.title": "洞察：最近 {days} 天与之前 {days} 天对比", "insights.none": "数据还不够，暂无结论。",
    "insights.figure": "指标", "insights.now": "本期", "insights.before": "上期", "insights.change": "变化",
    "replies.title": "快捷回复", "replies.shortcut": "快捷词", "replies.text": "内容", "replies.scope": "可见范围",
    "replies.team": "所有人", "replies.personal": "仅自己", "replies.add": "添加", "replies.delete": "删除",
    "replies.hint": "在回复框输入 / 和快捷词。{{customer.name}} 与 {{agent.name}} 会自动填入。",
    "replies.none": "还没有快捷回复。",
    "unavailable": "不可用：此部署尚未提供该视图。", "loading": "加载中…",
    "couldNotLoad": "无法加载：{error}", "nothing": "暂无内容。",
    "seconds": "{n} 秒", "minutes": "{n} 分钟", "hours": "{n} 小时",
  },
};

function browserLanguage() {
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language || "en"];
  return wanted.some((l) => l.toLowerCase().startsWith("zh")) ? "zh-CN" : "en";
}

export const lang = (() => {
  const saved = localStorage.getItem(KEY);
  return saved && CATALOG[saved] ? saved : browserLanguage();
})();

export function setLanguage(code) {
  if (!CATALOG[code]) return;
  localStorage.setItem(KEY, code);
  location.reload(); // every view is drawn again in the new language; the login is kept for the tab
}

export function t(key, params = {}) {
  const text = CATALOG[lang][key] ?? CATALOG.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

// Static text of the page: elements carry data-i18n (text), data-i18n-placeholder, data-i18n-label.
export function translatePage(root = document) {
  document.documentElement.lang = lang;
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  for (const node of root.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
}

// Times and durations as people read them, in the console's language.
export function time(iso) {
  return new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
}

export function dateTime(iso) {
  return new Date(iso).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return t("stats.none");
  if (seconds < 90) return t("seconds", { n: Math.round(seconds) });
  if (seconds < 5400) return t("minutes", { n: Math.round(seconds / 60) });
  return t("hours", { n: Math.round(seconds / 360) / 10 });
}
