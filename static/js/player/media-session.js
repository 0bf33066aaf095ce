// The operating system's media controls (lock screen, headset keys, the
// browser's media hub). Browsers without the Media Session API get nothing.

const supported = "mediaSession" in navigator;

// handlers: {play, pause, prev, next, seekBy(seconds), seekTo(seconds)}
export function bindMediaSession(handlers) {
  if (!supported) return;
  const actions = {
    play: handlers.play,
    pause: handlers.pause,
    previoustrack: handlers.prev,
    nexttrack: handlers.next,
    seekbackward: (details) => handlers.seekBy(-(details.seekOffset || 10)),
    seekforward: (details) => handlers.seekBy(details.seekOffset || 10),
    seekto: (details) => handlers.seekTo(details.seekTime),
  };
  for (const [action, handler] of Object.entries(actions)) {
    try {
      navigator.mediaSession.setActionHandler(action, handler);
    } catch {
      // This browser does not know the action; the others still work.
    }
  }
}

export function showTrackInMediaSession(track) {
  if (!supported || !window.MediaMetadata) return;
  navigator.mediaSession.metadata = new MediaMetadata({
    title: track.title,
    artist: track.artist,
    album: track.album,
    artwork: [{ src: track.cover, sizes: "320x320", type: "image/jpeg" }],
  });
}

export function showPlaybackState(playing) {
  if (supported) navigator.mediaSession.playbackState = playing ? "playing" : "paused";
}

export function showPosition(duration, position, playbackRate) {
  if (!supported || !navigator.mediaSession.setPositionState || !duration || position > duration) return;
  try {
    navigator.mediaSession.setPositionState({ duration, position, playbackRate });
  } catch {
    // Rejected while the element reports odd values mid-load; the next update fixes it.
  }
}
