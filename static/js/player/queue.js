// The play queue as plain state: no DOM, no storage, no audio. The player
// asks it what to play and persists what serialise() returns; the tests in
// tests/js/ drive it directly under Node.

export const REPEAT_MODES = Object.freeze(["off", "all", "one"]);

export class Queue {
  // random is injectable so tests can pin the shuffle.
  constructor({ user = null, random = Math.random } = {}) {
    this.user = user;
    this.random = random;
    this.tracks = []; // as the user built the list: the play order when not shuffled
    this.order = []; // indices into tracks, in play order
    this.pos = -1; // index into order of the current track; -1 when nothing is current
    this.shuffle = false;
    this.repeat = "off";
  }

  get length() {
    return this.order.length;
  }

  current() {
    return this.pos >= 0 ? this.tracks[this.order[this.pos]] : null;
  }

  // The tracks in play order, each with its position and whether it is current.
  entries() {
    return this.order.map((index, pos) => ({ track: this.tracks[index], pos, current: pos === this.pos }));
  }

  // What plays when the current track ends on its own (what to preload).
  upcoming() {
    if (this.pos < 0) return null;
    if (this.repeat === "one") return this.current();
    const next = this.pos + 1;
    if (next < this.length) return this.tracks[this.order[next]];
    return this.repeat === "all" ? this.tracks[this.order[0]] : null;
  }

  // Replaces the queue. Without a start, a shuffled list starts anywhere.
  playList(tracks, { start, shuffle } = {}) {
    if (!tracks.length) return null;
    this.tracks = tracks.slice();
    if (shuffle !== undefined) this.shuffle = Boolean(shuffle);
    let first = start;
    if (first === undefined) first = this.shuffle ? this.#randomBelow(tracks.length) : 0;
    this.#reorder(Math.max(0, Math.min(first, tracks.length - 1)));
    return this.current();
  }

  // Right after the current track; starts playing it when nothing is current.
  // Returns whether it became the current track.
  playNext(track) {
    if (!this.current()) {
      this.playList([track], { start: 0 });
      return true;
    }
    // Also placed after the current track in the unshuffled list, so turning
    // shuffle off keeps it next.
    const at = this.order[this.pos] + 1;
    this.tracks.splice(at, 0, track);
    this.order = this.order.map((i) => (i >= at ? i + 1 : i));
    this.order.splice(this.pos + 1, 0, at);
    return false;
  }

  // At the end; starts playing it when nothing is current.
  // Returns whether it became the current track.
  add(track) {
    if (!this.current()) {
      this.playList([track], { start: 0 });
      return true;
    }
    this.tracks.push(track);
    this.order.push(this.tracks.length - 1);
    return false;
  }

  go(pos) {
    if (!Number.isInteger(pos) || pos < 0 || pos >= this.length) return null;
    this.pos = pos;
    return this.current();
  }

  // The track to play next, or null when the queue is over. auto: the current
  // track ended by itself, where repeat-one plays it again.
  next({ auto = false } = {}) {
    if (!this.length || this.pos < 0) return null;
    if (auto && this.repeat === "one") return this.current();
    let next = this.pos + 1;
    if (next >= this.length) {
      if (this.repeat !== "all") return null;
      next = 0;
    }
    this.pos = next;
    return this.current();
  }

  // The previous track, or null at the start (the player restarts the track then).
  prev() {
    if (this.pos <= 0) return null;
    this.pos -= 1;
    return this.current();
  }

  // Moves the entry at play position `from` to `to`; the current track stays current.
  move(from, to) {
    const n = this.length;
    if (![from, to].every((p) => Number.isInteger(p) && p >= 0 && p < n) || from === to) return false;
    const [index] = this.order.splice(from, 1);
    this.order.splice(to, 0, index);
    if (this.pos === from) this.pos = to;
    else if (from < this.pos && to >= this.pos) this.pos -= 1;
    else if (from > this.pos && to <= this.pos) this.pos += 1;
    // Unshuffled, the play order is the list: a move changes the list itself.
    if (!this.shuffle) this.#adoptOrder();
    return true;
  }

  moveBy(pos, delta) {
    return this.move(pos, pos + delta);
  }

  // Removes the entry at play position `pos`. When it was the current one,
  // the entry that took its place (or the new last one) becomes current.
  // Returns whether the current track changed.
  remove(pos) {
    if (!Number.isInteger(pos) || pos < 0 || pos >= this.length) return false;
    const wasCurrent = pos === this.pos;
    const [index] = this.order.splice(pos, 1);
    this.tracks.splice(index, 1);
    this.order = this.order.map((i) => (i > index ? i - 1 : i));
    if (!this.length) this.pos = -1;
    else if (pos < this.pos) this.pos -= 1;
    else if (wasCurrent) this.pos = Math.min(this.pos, this.length - 1);
    return wasCurrent;
  }

  clear() {
    this.tracks = [];
    this.order = [];
    this.pos = -1;
  }

  // Shuffling puts the current track first and the rest in random order, so
  // every track still plays once; unshuffling returns to the list's order.
  setShuffle(on) {
    this.shuffle = Boolean(on);
    this.#reorder(this.pos >= 0 ? this.order[this.pos] : -1);
  }

  setRepeat(mode) {
    if (REPEAT_MODES.includes(mode)) this.repeat = mode;
  }

  // off -> all -> one -> off
  cycleRepeat() {
    this.repeat = REPEAT_MODES[(REPEAT_MODES.indexOf(this.repeat) + 1) % REPEAT_MODES.length];
    return this.repeat;
  }

  // A plain object for JSON. The field names are those the first player
  // stored, so a queue saved before the player was split still restores.
  serialise() {
    return {
      user: this.user,
      queue: this.tracks.slice(),
      order: this.order.slice(),
      pos: this.pos,
      shuffle: this.shuffle,
      repeat: this.repeat,
    };
  }

  // A queue from serialise()'s output (an object or its JSON). Anything
  // unreadable, or saved by another user on this browser, gives an empty queue.
  static restore(saved, { user = null, random = Math.random } = {}) {
    const queue = new Queue({ user, random });
    let data = saved;
    if (typeof data === "string") {
      try {
        data = JSON.parse(data);
      } catch {
        return queue;
      }
    }
    // Users are compared as strings: the first player stored the id as one.
    if (!isObject(data) || user === null || String(data.user) !== String(user)) return queue;
    const { queue: tracks, order, pos, shuffle, repeat } = data;
    if (!Array.isArray(tracks) || !tracks.every(isTrack)) return queue;
    if (!isPermutation(order, tracks.length)) return queue;
    if (!Number.isInteger(pos) || pos < -1 || pos >= tracks.length) return queue;
    if (typeof shuffle !== "boolean" || !REPEAT_MODES.includes(repeat)) return queue;
    queue.tracks = tracks.slice();
    queue.order = order.slice();
    queue.pos = tracks.length ? pos : -1;
    queue.shuffle = shuffle;
    queue.repeat = repeat;
    return queue;
  }

  #randomBelow(n) {
    return Math.min(n - 1, Math.floor(this.random() * n));
  }

  // A fresh play order: the list's own, or a shuffle with `keep` first.
  #reorder(keep) {
    const order = this.tracks.map((_, i) => i);
    if (this.shuffle) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = this.#randomBelow(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      if (keep >= 0) {
        order.splice(order.indexOf(keep), 1);
        order.unshift(keep);
      }
    }
    this.order = order;
    this.pos = keep >= 0 ? order.indexOf(keep) : -1;
  }

  // Makes the current play order the list's order.
  #adoptOrder() {
    this.tracks = this.order.map((i) => this.tracks[i]);
    this.order = this.tracks.map((_, i) => i);
  }
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// The shape templating.track_data() gives every row.
export function isTrack(track) {
  if (!isObject(track) || !Number.isInteger(track.id)) return false;
  const texts = ["title", "artist", "stream", "cover", "page"].every((k) => typeof track[k] === "string");
  const album = track.album === undefined || track.album === null || typeof track.album === "string";
  const duration = track.duration === null || (Number.isFinite(track.duration) && track.duration >= 0);
  return texts && album && duration;
}

function isPermutation(order, n) {
  if (!Array.isArray(order) || order.length !== n) return false;
  const seen = new Set(order);
  return seen.size === n && order.every((i) => Number.isInteger(i) && i >= 0 && i < n);
}
