// Likes and dislikes: every row's and the track page's like forms, and the
// player bar's buttons, change without a page load through /api. The forms
// still post normally without JavaScript, or when the request fails.
import { config, matchUrl, url } from "./config.js";
import { setIcon } from "./icons.js";

const listeners = new Set();
const ICONS = { like: "thumb-up", dislike: "thumb-down" };

// Show `state` ("like", "dislike" or "none") on a like or dislike button.
export function showLike(button, state) {
  const kind = button.dataset.likeKind;
  const on = state === kind;
  button.setAttribute("aria-pressed", String(on));
  setIcon(button, on ? `${ICONS[kind]}-filled` : ICONS[kind]);
  const value = button.form?.querySelector('input[name="value"]');
  if (value) value.value = on ? "none" : kind;
}

// What a click on the `kind` button does from `state`: a second click undoes.
export function nextState(state, kind) {
  return state === kind ? "none" : kind;
}

// callback({trackId, like}) after every change made on this page.
export function onLikeChange(callback) {
  listeners.add(callback);
}

// The user's like state of a track; null when the server cannot say (offline).
export async function likeState(trackId) {
  try {
    const response = await fetch(url("track", { track_id: trackId }), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    return response.ok ? (await response.json()).like || "none" : null;
  } catch {
    return null;
  }
}

// Rejects when the server did not make the change.
export async function setLike(trackId, value) {
  const response = await fetch(url("like", { track_id: trackId }), {
    method: "POST",
    credentials: "same-origin",
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": config.csrf },
    body: JSON.stringify({ value }),
  });
  if (!response.ok) throw new Error(`like: HTTP ${response.status}`);
  const { like } = await response.json();
  showOnPage(trackId, like);
  for (const callback of listeners) callback({ trackId, like });
  return like;
}

function showOnPage(trackId, like) {
  for (const form of document.querySelectorAll("form[data-like-form]")) {
    const match = matchUrl("like_form", form.action);
    if (!match || parseInt(match.track_id, 10) !== trackId) continue;
    const button = form.querySelector("button[data-like-kind]");
    if (button) showLike(button, like);
    const row = form.closest("tr[data-track-id]");
    if (row && config.dim_disliked) row.classList.toggle("disliked", like === "dislike");
  }
}

export function bindLikeForms() {
  // Capture phase, so the form is handled here and htmx never sees it.
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target.closest("form[data-like-form]");
      const match = form && matchUrl("like_form", form.action);
      if (!match) return;
      event.preventDefault();
      event.stopPropagation();
      const value = form.querySelector('input[name="value"]').value;
      setLike(parseInt(match.track_id, 10), value).catch(() => form.submit());
    },
    true,
  );
}
