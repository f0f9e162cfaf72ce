// Alerts for an agent whose eyes are elsewhere: a short chime (WebAudio, no file), a desktop
// notification (permission asked after login; `notify-toggle` turns both off, remembered in this
// browser), and the unread count in the tab title: "(3) kefu".
import { t } from "./i18n.js";

const KEY = "kefu.console.alerts";
const BASE_TITLE = "kefu";
let audio = null;

export function enabled() {
  return localStorage.getItem(KEY) !== "off";
}

export function setup(toggle) {
  toggle.checked = enabled();
  toggle.addEventListener("change", () => {
    localStorage.setItem(KEY, toggle.checked ? "on" : "off");
    if (toggle.checked) askPermission();
  });
  // Browsers start audio only after a gesture: the first click anywhere unlocks the chime.
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  askPermission();
}

function askPermission() {
  if (!enabled() || typeof Notification === "undefined" || Notification.permission !== "default") return;
  Promise.resolve(Notification.requestPermission()).catch(() => {});
}

function unlockAudio() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  audio = audio || new Context();
  audio.resume?.().catch(() => {});
}

function chime() {
  if (!audio) unlockAudio();
  if (!audio || audio.state !== "running") return;
  const now = audio.currentTime;
  for (const [offset, frequency] of [[0, 880], [0.12, 1320]]) {
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, now + offset);
    gain.gain.exponentialRampToValueAtTime(0.2, now + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.25);
    tone.connect(gain).connect(audio.destination);
    tone.start(now + offset);
    tone.stop(now + offset + 0.3);
  }
}

function notify(title, body, tag, onclick) {
  if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
  try {
    const shown = new Notification(title, { body, tag });
    shown.onclick = () => {
      window.focus();
      onclick?.();
      shown.close?.();
    };
  } catch (e) {
    // some platforms allow notifications only from a service worker: the chime and title remain
  }
}

// A conversation was given to me (or waits for anyone) while I look at something else.
export function newConversation(session, open) {
  if (!enabled()) return;
  chime();
  notify(t("alert.newChat"), t("alert.newChatBody", { name: session.visitor?.name || t("visitor") }),
    `kefu-session-${session.session_id}`, open);
}

// A message in a conversation that is not on screen.
export function newMessage(message, name, open) {
  if (!enabled()) return;
  chime();
  notify(t("alert.newMessage", { name: name || t("visitor") }), message.text, `kefu-session-${message.session_id}`, open);
}

export function showUnread(count) {
  document.title = count > 0 ? `(${count}) ${BASE_TITLE}` : BASE_TITLE;
}
