// A listen counts once the track has really been heard for half its length
// or four minutes, whichever is shorter. Only time that passes while playing
// counts: a seek is a jump, not listening. The counter is plain state; the
// player calls reportListen when it says so.

const MAX_NEEDED = 240;
// timeupdate fires every quarter second or so; a longer step is a seek.
const MAX_STEP = 1.5;

export class ListenCounter {
  constructor() {
    this.reset();
  }

  // A new track starts.
  reset() {
    this.heard = 0;
    this.reported = false;
    this.lastTime = null;
  }

  // Playback stopped: the next time seen starts a new stretch.
  pause() {
    this.lastTime = null;
  }

  // Called with the playing position as it advances; returns true exactly
  // once per track, when the listen should be reported.
  update(time, { playing, duration }) {
    if (this.lastTime !== null && playing) {
      const step = time - this.lastTime;
      if (step > 0 && step < MAX_STEP) this.heard += step;
    }
    this.lastTime = time;
    if (this.reported || !(duration > 0)) return false;
    if (this.heard < Math.min(duration / 2, MAX_NEEDED)) return false;
    this.reported = true;
    return true;
  }

  // The report did not reach the server: count it again on the next update.
  failed() {
    this.reported = false;
  }
}

// Tells the server (POST {track_id}). Resolves to the user's new count of
// listens of the track, or null when the server refused (a deleted track:
// not worth retrying); rejects when the request did not get through.
export async function reportListen(trackId, { url, csrf }) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    body: JSON.stringify({ track_id: trackId }),
    credentials: "same-origin",
  });
  if (!response.ok) return null;
  return (await response.json()).play_count;
}
