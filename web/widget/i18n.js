/* kefu widget: every string it shows, in English and Simplified Chinese, and dates in the visitor's
 * locale. The language is the tag's data-lang, else the widget settings' lang, else the browser's. */
(function (kefu) {
  "use strict";

  const CATALOG = {
    en: {
      launcher: "Chat with us",
      title: "Chat with us",
      dialog: "Chat with us",
      close: "Close",
      greeting: "Hi! Ask us anything.",
      name_optional: "Your name (optional)",
      name_required: "Your name",
      email_optional: "Your email (optional)",
      email_required: "Your email",
      email_offline: "Your email, so we can answer you",
      email_invalid: "Please enter a valid email address.",
      name_missing: "Please enter your name.",
      start: "Start chat",
      message_label: "Message",
      placeholder: "Type a message…",
      send: "Send",
      attach: "Attach a file (PNG, JPEG, GIF, WebP or PDF, up to 10 MB)",
      end: "End chat",
      queued: "You are number {position} in the queue",
      queued_band: "You are number {low}-{high} in the queue",
      waiting: "Waiting for an agent…",
      chatting: "You are chatting with {name}",
      an_agent: "an agent",
      connecting: "Connecting…",
      reconnecting: "Connection lost, reconnecting…",
      unreachable: "Could not reach us, please try again.",
      start_again: "Please start a new chat.",
      ended_by_visitor: "You ended the chat",
      ended_by_agent: "The agent ended the chat",
      ended: "The chat has ended",
      typing: "{name} is typing…",
      typing_anonymous: "Agent is typing…",
      sending: "Sending…",
      sent: "Sent",
      read: "Read",
      not_sent: "Not sent",
      you: "You",
      rate_question: "How did we do?",
      rate_comment: "Tell us more (optional), then pick a star",
      star: "{n} of 5",
      thanks: "Thank you for your feedback!",
      new_chat: "Start a new chat",
      transcript: "Email me the transcript",
      transcript_sent: "Transcript sent to {email}",
      transcript_failed: "The transcript could not be sent, please try again.",
      transcript_needs_email: "Enter your email above to receive the transcript.",
      offline: "We're away right now. Leave a message and your email: we'll answer as soon as we are back.",
      offline_status: "Nobody is here right now: we'll answer as soon as we are back.",
      prechat_needed: "Please tell us who you are before we start.",
      not_sent_reason: "Your message was not sent: {reason}",
      file_not_allowed: "it is not a PNG, JPEG, GIF or WebP image or a PDF.",
      joined: "{name} joined the chat",
      transferred: "You were transferred to {name}",
      requeued: "Your chat is back in the queue, the next free agent will answer",
      rated_line: "You rated this chat {rating} of 5",
      deleted: "Message deleted",
      file_too_large: "{file} is too large: files may be at most 10 MB.",
      file_wrong_type: "{file} cannot be sent: only PNG, JPEG, GIF, WebP images and PDF files are allowed.",
      file_refused: "{file} was refused: {reason}",
      file_failed: "{file} could not be uploaded, please try again.",
      uploading: "Uploading {file}…",
      attachment: "Attachment",
      unread: "{count} unread messages",
    },
    "zh-CN": {
      launcher: "联系客服",
      title: "在线客服",
      dialog: "在线客服",
      close: "关闭",
      greeting: "您好！有什么可以帮您？",
      name_optional: "您的称呼（选填）",
      name_required: "您的称呼",
      email_optional: "您的邮箱（选填）",
      email_required: "您的邮箱",
      email_offline: "您的邮箱，方便我们回复您",
      email_invalid: "请输入有效的邮箱地址。",
      name_missing: "请输入您的称呼。",
      start: "开始对话",
      message_label: "消息",
      placeholder: "请输入消息…",
      send: "发送",
      attach: "添加附件（PNG、JPEG、GIF、WebP 或 PDF，最大 10 MB）",
      end: "结束对话",
      queued: "您正在排队，前面第 {position} 位",
      queued_band: "您正在排队，前面第 {low}-{high} 位",
      waiting: "正在等待客服…",
      chatting: "{name} 正在为您服务",
      an_agent: "客服",
      connecting: "正在连接…",
      reconnecting: "连接已断开，正在重新连接…",
      unreachable: "暂时无法连接，请稍后再试。",
      start_again: "请开始新的对话。",
      ended_by_visitor: "您已结束对话",
      ended_by_agent: "客服已结束对话",
      ended: "对话已结束",
      typing: "{name} 正在输入…",
      typing_anonymous: "客服正在输入…",
      sending: "发送中…",
      sent: "已发送",
      read: "已读",
      not_sent: "未发送",
      you: "我",
      rate_question: "您对本次服务满意吗？",
      rate_comment: "补充说明（选填），然后选择星级",
      star: "{n} 星（满分 5 星）",
      thanks: "感谢您的评价！",
      new_chat: "开始新的对话",
      transcript: "将聊天记录发送到我的邮箱",
      transcript_sent: "聊天记录已发送至 {email}",
      transcript_failed: "聊天记录发送失败，请重试。",
      transcript_needs_email: "请在上方填写邮箱以接收聊天记录。",
      offline: "我们暂时不在线。请留言并留下邮箱，我们回来后会尽快回复您。",
      offline_status: "客服暂时不在，回来后会第一时间回复您。",
      prechat_needed: "开始对话前，请先填写您的信息。",
      not_sent_reason: "消息未发送：{reason}",
      file_not_allowed: "它不是 PNG、JPEG、GIF、WebP 图片或 PDF 文件。",
      joined: "{name} 加入了对话",
      transferred: "已为您转接至 {name}",
      requeued: "您的对话已重新排队，下一位空闲的客服会为您服务",
      rated_line: "您为本次对话评了 {rating} 星（满分 5 星）",
      deleted: "消息已删除",
      file_too_large: "{file} 太大：文件最大 10 MB。",
      file_wrong_type: "无法发送 {file}：仅支持 PNG、JPEG、GIF、WebP 图片和 PDF 文件。",
      file_refused: "{file} 被拒绝：{reason}",
      file_failed: "{file} 上传失败，请重试。",
      uploading: "正在上传 {file}…",
      attachment: "附件",
      unread: "{count} 条未读消息",
    },
  };

  /** The first of ``candidates`` (tag, settings, browser languages) that names a catalog. */
  function pickLanguage(candidates) {
    for (const candidate of candidates) {
      if (typeof candidate !== "string" || !candidate) continue;
      const lower = candidate.toLowerCase();
      if (lower.startsWith("zh")) return "zh-CN";
      if (lower.startsWith("en")) return "en";
    }
    return "en";
  }

  function translator(lang) {
    const table = CATALOG[lang] || CATALOG.en;
    return (key, vars) => {
      const text = table[key] !== undefined ? table[key] : CATALOG.en[key] !== undefined ? CATALOG.en[key] : key;
      return text.replace(/\{(\w+)\}/g, (whole, name) => (vars && vars[name] !== undefined ? String(vars[name]) : whole));
    };
  }

  /** A setting that may be one text or one per language ({"en": ..., "zh-CN": ...}). */
  function localized(value, lang) {
    if (value && typeof value === "object") return value[lang] || value[lang.split("-")[0]] || value.en || "";
    return typeof value === "string" ? value : "";
  }

  const sameDay = (a, b) => a.toDateString() === b.toDateString();

  /** ``{iso, text, full}`` for a timestamp: the time today, the date and time otherwise, in the
   * browser's locale (not the widget's language: a visitor reading English keeps their clock). */
  function formatTime(iso) {
    const date = new Date(iso || Date.now());
    const valid = !Number.isNaN(date.getTime()) ? date : new Date();
    const short = sameDay(valid, new Date())
      ? { hour: "numeric", minute: "2-digit" }
      : { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" };
    return {
      iso: valid.toISOString(),
      text: new Intl.DateTimeFormat(undefined, short).format(valid),
      full: new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" }).format(valid),
    };
  }

  kefu.i18n = { CATALOG, pickLanguage, translator, localized, formatTime };
})(window.__kefu);
