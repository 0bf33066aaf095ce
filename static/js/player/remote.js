// The queue is also kept on the server, in the play queue the Subsonic apps
// save and load, so another device picks it up after login. The helpers that
// decide what is sent and what is restored are plain functions, tested in
// tests/js/; the saver and the fetch are thin.
import { isTrack } from "./queue.js";

// A queue change goes to the server this long after it (a burst of changes
// is sent once); while playing, the position is sent at most this often.
const CHANGE_DELAY_MS = 2000;
const POSITION_DELAY_MS = 30000;

// What the server stores: the tracks in play order, the current one's index
// and the position in it.
export function toServer(queue, seconds) {
  const entries = queue.entries();
  const current = entries.findIndex((entry) => entry.current);
  const position = current >= 0 && Number.isFinite(seconds) ? Math.max(0, Math.round(seconds * 1000)) : 0;
  return {
    track_ids: entries.map((entry) => entry.track.id),
    current: current >= 0 ? current : null,
    position_ms: position,
  };
}

// The server's answer as {tracks, start, time, changedAt}; null when it holds
// no queue, or one this player cannot use.
export function fromServer(data) {
  if (typeof data !== "object" || data === null || !Array.isArray(data.tracks)) return null;
  const { tracks, current, position_ms: position } = data;
  if (!tracks.length || !tracks.every(isTrack)) return null;
  const known = Number.isInteger(current) && current >= 0 && current < tracks.length;
  const time = known && Number.isInteger(position) && position > 0 ? position / 1000 : 0;
  const changedAt = Date.parse(data.changed_at);
  return { tracks, start: known ? current : 0, time, changedAt: Number.isNaN(changedAt) ? 0 : changedAt };
}

// Whether the server's queue replaces what this browser kept (`trackIds` in
// play order): it kept no queue for this user, or another one that it saved
// before the server's was changed. The same tracks keep this browser's own
// state (shuffle, playing): it is what this browser sent as it left the page.
export function serverWins(remote, { hasQueue, savedAt, trackIds = [] }) {
  if (remote === null) return false;
  if (!hasQueue) return true;
  const same = remote.tracks.length === trackIds.length && remote.tracks.every((t, i) => t.id === trackIds[i]);
  return !same && (!Number.isFinite(savedAt) || remote.changedAt > savedAt);
}

// The saved queue, or null when the server cannot say (offline, signed out).
export async function fetchQueue(address) {
  try {
    const response = await fetch(address, { credentials: "same-origin", headers: { Accept: "application/json" } });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

// snapshot() gives toServer()'s object; the same one twice is sent once.
export class RemoteSaver {
  constructor(address, csrf, snapshot) {
    this.address = address;
    this.csrf = csrf;
    this.snapshot = snapshot;
    this.timer = null;
    this.due = 0;
    this.last = null;
  }

  // The queue changed.
  soon() {
    this.#schedule(CHANGE_DELAY_MS);
  }

  // The position moved on.
  later() {
    this.#schedule(POSITION_DELAY_MS);
  }

  // What is already on the server (just restored from it).
  sent(body) {
    this.last = JSON.stringify(body);
  }

  #schedule(delay) {
    const due = Date.now() + delay;
    if (this.timer && this.due <= due) return;
    clearTimeout(this.timer);
    this.due = due;
    this.timer = setTimeout(() => this.now(), delay);
  }

  // keepalive lets the request outlive the page (pagehide).
  now() {
    clearTimeout(this.timer);
    this.timer = null;
    const body = JSON.stringify(this.snapshot());
    if (body === this.last) return;
    this.last = body;
    fetch(this.address, {
      method: "POST",
      credentials: "same-origin",
      keepalive: true,
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": this.csrf },
      body,
    })
      .then((response) => {
        // A track since deleted, a queue over the server's limit: kept here only.
        if (!response.ok) console.warn(`queue: HTTP ${response.status}`);
      })
      .catch(() => {
        this.last = null; // offline: send it again with the next change
      });
  }
}
