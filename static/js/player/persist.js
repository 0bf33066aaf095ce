// The player survives a reload: queue, position and settings are kept in
// localStorage per browser, and only the user who saved them gets them back.
import { Queue } from "./queue.js";

const KEY = "musiccloud.player.state";
const SAVE_EVERY_MS = 1000;

// {queue, time, volume, muted, playing, savedAt} for `user`; defaults for anything
// missing, unreadable or saved by someone else.
export function loadSaved(user) {
  let data = null;
  try {
    data = JSON.parse(localStorage.getItem(KEY) || "null");
  } catch {
    data = null; // unreadable, or storage is blocked
  }
  const mine = data !== null && typeof data === "object" && user !== null && String(data.user) === String(user);
  const saved = mine ? data : {};
  const number = (value, low, high, fallback) =>
    Number.isFinite(value) && value >= low && value <= high ? value : fallback;
  return {
    queue: Queue.restore(saved, { user }),
    time: number(saved.time, 0, Infinity, 0),
    volume: number(saved.volume, 0, 1, 1),
    muted: saved.muted === true,
    playing: saved.playing === true,
    // When this browser last saved (ms since 1970): the server's queue wins when newer.
    savedAt: number(saved.saved_at, 0, Infinity, 0),
  };
}

// snapshot() gives what to store; soon() writes at most once a second (the
// position changes several times a second), now() at once.
export class Saver {
  constructor(snapshot) {
    this.snapshot = snapshot;
    this.timer = null;
  }

  soon() {
    if (this.timer) return;
    this.timer = setTimeout(() => this.now(), SAVE_EVERY_MS);
  }

  now() {
    clearTimeout(this.timer);
    this.timer = null;
    try {
      localStorage.setItem(KEY, JSON.stringify(this.snapshot()));
    } catch {
      // Storage full or blocked (private mode): the player works, it just forgets.
    }
  }
}
