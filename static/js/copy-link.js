// Buttons with data-copy="<selector>" copy that field's text (the share link
// on a playlist's edit page) and say so for a moment.
import { t } from "./config.js";

const CONFIRM_MS = 2000;
const timers = new WeakMap();

export function bindCopyButtons() {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    const field = button && document.querySelector(button.dataset.copy);
    if (!field) return;
    field.select();
    // The server-rendered label, remembered before the first confirmation replaces it.
    button.dataset.label ??= button.textContent;
    try {
      // The Clipboard API needs a secure context; plain-HTTP installs use the old command.
      if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(field.value);
      else document.execCommand("copy");
    } catch (error) {
      console.warn("copying failed", error);
      return;
    }
    button.textContent = t("copied");
    clearTimeout(timers.get(button));
    timers.set(
      button,
      setTimeout(() => {
        button.textContent = button.dataset.label;
      }, CONFIRM_MS),
    );
  });
}
