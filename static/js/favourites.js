// Hearts: the player's and every row's favourite form toggle without a page
// load. The forms still post normally without JavaScript, or when the
// request fails.
import { config, matchUrl, url } from "./config.js";
import { setIcon } from "./icons.js";

const listeners = new Set();

export function showHeart(button, on) {
  button.setAttribute("aria-pressed", String(on));
  setIcon(button, on ? "heart-filled" : "heart");
}

// callback({trackId, favourite}) after every change made on this page.
export function onFavouriteChange(callback) {
  listeners.add(callback);
}

// Whether the user hearted the track; null when the server cannot say (offline).
export async function isFavourite(trackId) {
  try {
    const response = await fetch(url("track", { track_id: trackId }), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    return response.ok ? Boolean((await response.json()).favourite) : null;
  } catch {
    return null;
  }
}

// Rejects when the server did not make the change.
export async function toggleFavourite(trackId) {
  const address = url("favourite", { track_id: trackId });
  const response = await fetch(address, {
    method: "POST",
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRFToken": config.csrf },
  });
  if (!response.ok) throw new Error(`favourite: HTTP ${response.status}`);
  const { favourite } = await response.json();
  for (const button of document.querySelectorAll(`form[data-favourite-form][action="${address}"] button`)) {
    showHeart(button, favourite);
  }
  for (const callback of listeners) callback({ trackId, favourite });
  return favourite;
}

export function bindFavouriteForms() {
  // Capture phase, so the form is handled here and htmx never sees it.
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target.closest("form[data-favourite-form]");
      const match = form && matchUrl("favourite", form.action);
      if (!match) return;
      event.preventDefault();
      event.stopPropagation();
      toggleFavourite(parseInt(match.track_id, 10)).catch(() => form.submit());
    },
    true,
  );
}
