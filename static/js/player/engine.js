// Two <audio> elements: one plays, the other buffers the next track once the
// current one is well under way, so the switch at its end is (nearly) gapless.
// The engine knows tracks only as {id, stream, duration}; what plays next is
// the queue's business.

// Events of the playing element that the player listens to; the preloading
// element's are not passed on.
const FORWARDED = ["timeupdate", "play", "pause", "ended", "loadedmetadata", "volumechange"];

// Preload once less than this many seconds are left, or past half the track.
const PRELOAD_LEFT = 20;

export class Engine extends EventTarget {
  // source(track): the address to play it from (the stream at the chosen quality).
  constructor(first, second, source = (track) => track.stream) {
    super();
    this.source = source;
    this.elements = [first, second];
    this.active = first;
    this.preloader = null;
    this.pendingStart = null; // a saved position waiting for the track's metadata
    this.volume = 1;
    this.muted = false;
    // Told whenever an element is given a track (to play or to preload).
    this.onSource = () => {};
    for (const element of this.elements) {
      for (const type of FORWARDED) {
        element.addEventListener(type, () => {
          if (element === this.active) this.dispatchEvent(new Event(type));
        });
      }
    }
  }

  get other() {
    return this.elements[0] === this.active ? this.elements[1] : this.elements[0];
  }

  get paused() {
    return this.active.paused;
  }

  get currentTime() {
    return this.active.currentTime;
  }

  // Where playback is, or will resume: what a reload should come back to.
  get position() {
    return this.pendingStart ?? this.active.currentTime;
  }

  get duration() {
    return this.active.duration;
  }

  get playbackRate() {
    return this.active.playbackRate;
  }

  // Makes `track` the playing element's source, switching to the preloading
  // element when it already holds it; startAt resumes a saved position.
  load(track, { startAt = 0, autoplay = false } = {}) {
    const id = String(track.id);
    if (this.preloader && this.preloader.dataset.trackId === id) {
      this.active.pause();
      this.#empty(this.active);
      this.active = this.preloader;
    } else {
      this.active.pause();
      this.active.src = this.source(track);
      this.active.dataset.trackId = id;
      this.onSource(this.active, track);
      this.#empty(this.other, { reload: false });
    }
    this.preloader = null;
    this.active.volume = this.volume;
    this.active.muted = this.muted;
    this.pendingStart = startAt || null;
    if (startAt) {
      const element = this.active;
      const resume = () => {
        // Unless the user has sought or another track has loaded meanwhile.
        if (this.pendingStart === null || element !== this.active) return;
        element.currentTime = startAt;
        this.pendingStart = null;
      };
      if (element.readyState >= 1) resume();
      else element.addEventListener("loadedmetadata", resume, { once: true });
    }
    if (autoplay) return this.play();
    return Promise.resolve(false);
  }

  // Resolves to whether playback started; browsers refuse until the user has
  // interacted with the page.
  play() {
    const started = this.active.play();
    if (!started || !started.then) return Promise.resolve(!this.active.paused);
    return started.then(
      () => true,
      () => false,
    );
  }

  pause() {
    this.active.pause();
  }

  seek(seconds) {
    this.pendingStart = null;
    this.active.currentTime = seconds;
  }

  // Relative seek, kept a little short of the end so it does not end the track.
  seekBy(delta, knownDuration = 0) {
    const duration = this.active.duration || knownDuration || 0;
    this.seek(Math.max(0, Math.min(duration - 0.25, this.active.currentTime + delta)));
  }

  restart() {
    this.seek(0);
  }

  setVolume(volume) {
    this.volume = volume;
    this.active.volume = volume;
  }

  setMuted(muted) {
    this.muted = muted;
    this.active.muted = muted;
  }

  // Starts buffering `track` in the other element when the current one is
  // far enough along. Repeating the same track needs no preload.
  preloadIfDue(track, currentId) {
    if (this.preloader || !track || track.id === currentId) return;
    const left = (this.active.duration || 0) - this.active.currentTime;
    if (!(left < PRELOAD_LEFT || this.active.currentTime > this.active.duration / 2)) return;
    const element = this.other;
    element.preload = "auto";
    element.src = this.source(track);
    element.dataset.trackId = String(track.id);
    this.onSource(element, track);
    element.load();
    this.preloader = element;
  }

  // The queue changed: whatever was preloaded may no longer be next.
  forgetPreload() {
    this.preloader = null;
  }

  stop() {
    this.active.pause();
    this.preloader = null;
    this.pendingStart = null;
    for (const element of this.elements) this.#empty(element);
  }

  #empty(element, { reload = true } = {}) {
    element.removeAttribute("src");
    element.dataset.trackId = "";
    if (reload) element.load();
  }
}
