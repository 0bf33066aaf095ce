// Loudness normalisation: a per-browser setting (off, track or album) and the
// Web Audio graph that applies it. Each <audio> element feeds its own
// GainNode (the preloading element gets the next track's gain in advance);
// both go through a DynamicsCompressorNode set up as a limiter, so a raised
// track never clips. Gains come from the server (track_data's "gain": the
// file's ReplayGain tags, else the measured loudness against -18 LUFS).

export const MODES = ["off", "track", "album"];
const KEY = "musiccloud.player.normalise";

export function loadMode(storage = globalThis.localStorage) {
  try {
    const mode = storage.getItem(KEY);
    return MODES.includes(mode) ? mode : "off";
  } catch {
    return "off"; // storage blocked
  }
}

export function saveMode(mode, storage = globalThis.localStorage) {
  try {
    storage.setItem(KEY, mode);
  } catch {
    // Storage full or blocked: the setting lasts until the page is closed.
  }
}

export function nextMode(mode) {
  return MODES[(MODES.indexOf(mode) + 1) % MODES.length];
}

// The linear factor for `track` in `mode`: 1 when off or when the track has
// not been measured; album falls back to the track's gain.
export function gainFor(track, mode) {
  const gain = track && track.gain;
  if (mode === "off" || !gain || typeof gain !== "object") return 1;
  const db = mode === "album" && Number.isFinite(gain.album) ? gain.album : gain.track;
  if (!Number.isFinite(db)) return 1;
  return 10 ** (Math.max(-24, Math.min(12, db)) / 20);
}

// The limiter: fast, hard above -1 dBFS.
const LIMITER = { threshold: -1, knee: 0, ratio: 20, attack: 0.003, release: 0.25 };

export class Loudness {
  constructor(elements, mode = loadMode()) {
    this.elements = elements;
    this.mode = mode;
    this.context = null;
    this.gains = new Map(); // element -> GainNode
    this.tracks = new Map(); // element -> the track it holds
    this.limiter = null;
    // Browsers start audio only after a gesture: the graph is built on the
    // first one (with the setting on), never before, or the music would be
    // routed into a silent, suspended context.
    const arm = () => {
      if (this.mode !== "off") this.#build();
      this.context?.resume?.();
    };
    for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, arm, { capture: true });
  }

  setMode(mode) {
    this.mode = MODES.includes(mode) ? mode : "off";
    saveMode(this.mode);
    if (this.mode !== "off") this.#build();
    this.#route();
    for (const element of this.elements) this.#apply(element);
  }

  // `element` now holds `track` (playing or preloading).
  use(element, track) {
    this.tracks.set(element, track);
    this.#apply(element);
  }

  // The factor applied to `element` now (1 when nothing applies).
  factor(element) {
    const node = this.gains.get(element);
    return node ? node.gain.value : 1;
  }

  resume() {
    this.context?.resume?.();
  }

  #build() {
    if (this.context) return;
    const Context = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!Context) return;
    try {
      this.context = new Context();
      this.limiter = this.context.createDynamicsCompressor();
      for (const [name, value] of Object.entries(LIMITER)) this.limiter[name].value = value;
      this.limiter.connect(this.context.destination);
      for (const element of this.elements) {
        const source = this.context.createMediaElementSource(element);
        const gain = this.context.createGain();
        source.connect(gain);
        this.gains.set(element, gain);
      }
    } catch (error) {
      console.warn("loudness normalisation is unavailable", error);
      this.context = null;
      this.gains.clear();
      return;
    }
    this.#route();
  }

  // Off: straight to the speakers; on: through the limiter.
  #route() {
    if (!this.context) return;
    for (const gain of this.gains.values()) {
      gain.disconnect();
      gain.connect(this.mode === "off" ? this.context.destination : this.limiter);
    }
  }

  #apply(element) {
    const node = this.gains.get(element);
    if (!node) return;
    const value = gainFor(this.tracks.get(element), this.mode);
    node.gain.setValueAtTime(value, this.context.currentTime);
  }
}
