// A radio: an endless queue from a seed (a track, an artist, a genre, or
// "recommended": the shuffle by recommendation). This
// module is the pure state (what was played and skipped this session, when to
// ask for more, what is new); player.js does the asking and the queueing.

// A track skipped before this many seconds is a negative signal.
export const SKIP_SECONDS = 30;
// Ask for more when fewer tracks than this are left after the current one.
export const LOW_WATER = 3;
export const BATCH = 10;

export class Radio {
  constructor(seed) {
    this.seed = seed; // {kind: "track" | "artist" | "genre", value} or {kind: "recommended"}
    this.played = [];
    this.skipped = new Set();
  }

  notePlayed(trackId) {
    if (!this.played.includes(trackId)) this.played.push(trackId);
  }

  // The listener moved on after `seconds` of the track: early means a skip.
  noteLeft(trackId, seconds) {
    if (seconds < SKIP_SECONDS) this.skipped.add(trackId);
  }

  needsMore(left) {
    return left < LOW_WATER;
  }

  // The body of POST /api/radio.
  request(count = BATCH) {
    return { seed: this.seed, played: this.played.slice(), skipped: [...this.skipped], count };
  }

  // The tracks of an answer that are new to this session and not queued already.
  fresh(tracks, queuedIds = []) {
    const seen = new Set([...this.played, ...this.skipped, ...queuedIds]);
    const out = [];
    for (const track of tracks) {
      if (seen.has(track.id)) continue;
      seen.add(track.id);
      out.push(track);
    }
    return out;
  }
}
