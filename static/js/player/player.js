// The player: wires the queue (what plays), the engine (how it plays), the
// bar (what the user sees), listens, favourites, Media Session, shortcuts and
// persistence. It lives in #player, outside #content, so navigation never
// interrupts it.
import { config, t, url } from "../config.js";
import { isFavourite, onFavouriteChange, toggleFavourite } from "../favourites.js";
import { likeState, nextState, onLikeChange, setLike } from "../likes.js";
import { Bar } from "./bar.js";
import { Engine } from "./engine.js";
import { bindKeyboard } from "./keyboard.js";
import { ListenCounter, reportListen } from "./listens.js";
import { bindMediaSession, showPlaybackState, showPosition, showTrackInMediaSession } from "./media-session.js";
import { bindPageButtons, markNowPlaying, showPlayCount } from "./page.js";
import { Loudness, nextMode } from "./loudness.js";
import { Radio } from "./radio.js";
import { loadSaved, Saver } from "./persist.js";
import { canPlayOpus, chooseQuality, isMetered, METERED_KEY, streamUrl } from "./quality.js";
import { fetchQueue, fromServer, RemoteSaver, serverWins, toServer } from "./remote.js";
import { drawPageProgress, drawPageWaveforms, fetchWaveform } from "./waveform.js";

// Previous within this many seconds of a track's start goes to the previous
// track; later it starts the track again.
const RESTART_AFTER = 3;

export function startPlayer(root) {
  const saved = loadSaved(config.user);
  const queue = saved.queue;
  const first = root.querySelector("#player-audio-a");
  const opus = canPlayOpus(first);
  const connection = navigator.connection;
  let meteredToggle = localStorage.getItem(METERED_KEY) === "1";
  const quality = () => chooseQuality(config.quality, isMetered(meteredToggle, connection));
  const engine = new Engine(first, root.querySelector("#player-audio-b"), (track) =>
    streamUrl(track.stream, quality(), opus),
  );
  const loudness = new Loudness(engine.elements);
  engine.onSource = (element, track) => loudness.use(element, track);
  const listens = new ListenCounter();
  // Whether the user wants music playing; kept across a reload, even when the
  // browser refuses to resume before the user touches the page.
  let playing = saved.playing;
  const saver = new Saver(() => ({
    ...queue.serialise(),
    time: queue.current() ? engine.position : 0,
    volume: engine.volume,
    muted: engine.muted,
    playing,
    saved_at: Date.now(),
  }));
  // The same queue on the server, for the user's other devices and Subsonic apps.
  const remote = new RemoteSaver(url("queue"), config.csrf, () =>
    toServer(queue, queue.current() ? engine.position : 0),
  );
  engine.setVolume(saved.volume);
  engine.setMuted(saved.muted);

  const current = () => queue.current();

  function render() {
    const audible = Boolean(current()) && !engine.paused;
    bar.renderControls({
      playing: audible,
      shuffle: queue.shuffle,
      repeat: queue.repeat,
      muted: engine.muted,
      volume: engine.volume,
    });
    if (!current()) bar.hide();
    showPlaybackState(audible);
  }

  function renderTime() {
    const time = engine.currentTime;
    const duration = engine.duration || current()?.duration || 0;
    bar.renderTime(time, duration);
    showPosition(duration, time, engine.playbackRate);
    drawPageProgress(pageView);
  }

  // What a track page's waveform needs of the player.
  const pageView = {
    currentId: () => current()?.id,
    progress() {
      const duration = engine.duration || current()?.duration || 0;
      return duration > 0 ? Math.min(1, engine.currentTime / duration) : 0;
    },
    seekFraction(fraction) {
      const duration = engine.duration || current()?.duration || 0;
      if (duration > 0) seekTo(Math.max(0, Math.min(1, fraction)) * duration);
    },
  };

  // The waveform and gain of a track measured after it was queued (or queued
  // before the server had them) come from the server once, when it loads.
  async function refreshSound(track) {
    if (!track.waveform || !track.gain) {
      try {
        const response = await fetch(url("track", { track_id: track.id }), { credentials: "same-origin" });
        if (response.ok) {
          const fresh = await response.json();
          track.waveform = fresh.waveform ?? null;
          track.gain = fresh.gain ?? null;
          if (current() === track) loudness.use(engine.active, track);
        }
      } catch {
        // Offline: the plain seek bar and no normalisation for this track.
      }
    }
    const data = await fetchWaveform(track.waveform);
    if (current() === track) bar.showWaveform(data);
  }

  function renderQueue() {
    bar.renderQueue(queue.entries());
  }

  async function refreshHeart(track) {
    const on = await isFavourite(track.id);
    if (on !== null && current()?.id === track.id) bar.showHeart(on);
  }

  // The current track's like state, as the bar shows it.
  let like = "none";
  function showLikeState(state) {
    like = state;
    bar.showLike(state);
  }
  async function refreshLike(track) {
    showLikeState("none");
    const state = await likeState(track.id);
    if (state !== null && current()?.id === track.id) showLikeState(state);
  }
  function clickLike(kind) {
    if (current()) setLike(current().id, nextState(like, kind)).catch((error) => console.warn(error));
  }

  // The radio playing, if any: it keeps the queue going (radio.js).
  let radio = null;
  let radioAsking = false;

  async function extendRadio() {
    if (!radio || radioAsking) return;
    const asking = radio;
    radioAsking = true;
    try {
      const response = await fetch(url("radio"), {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": config.csrf },
        body: JSON.stringify(asking.request()),
      });
      if (!response.ok || radio !== asking) return;
      const queued = queue.entries().map((entry) => entry.track.id);
      const tracks = asking.fresh((await response.json()).tracks, queued);
      if (!tracks.length) return;
      const started = !queue.length;
      for (const track of tracks) queue.add(track);
      changed({ reload: started });
    } catch (error) {
      console.warn(error);
    } finally {
      radioAsking = false;
    }
  }

  function followRadio(track) {
    if (!radio) return;
    radio.notePlayed(track.id);
    if (radio.needsMore(queue.length - queue.pos - 1)) extendRadio();
  }

  function startRadio(seed) {
    clear();
    radio = new Radio(seed);
    extendRadio();
  }

  function load(track, { startAt = 0, autoplay = false } = {}) {
    engine.load(track, { startAt });
    listens.reset();
    bar.showTrack(track);
    loudness.use(engine.active, track);
    refreshSound(track);
    showSound(track);
    showTrackInMediaSession(track);
    markNowPlaying(track.id);
    refreshHeart(track);
    refreshLike(track);
    followRadio(track);
    if (autoplay) play();
    saver.now();
    remote.soon();
  }

  // The bar says what plays: format, bitrate and whether it is transcoded.
  async function showSound(track) {
    const params = new URLSearchParams({ quality: quality() });
    if (!opus) params.set("format", "mp3");
    try {
      const response = await fetch(`${url("sound", { track_id: track.id })}?${params}`, {
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return;
      const sound = await response.json();
      if (current()?.id === track.id) bar.showSound(sound);
    } catch {
      // Offline or the server is away: the bar just says nothing about it.
    }
  }

  // The "metered" toggle: remembered, and the current track reloads at the new quality.
  function toggleMetered() {
    meteredToggle = !meteredToggle;
    localStorage.setItem(METERED_KEY, meteredToggle ? "1" : "0");
    bar.showMetered(meteredToggle);
    const track = current();
    if (track) {
      const wasPlaying = !engine.paused;
      load(track, { startAt: engine.currentTime, autoplay: wasPlaying });
    }
  }

  function play() {
    if (!current()) return;
    loudness.resume();
    engine.play().then((started) => {
      if (!started) render(); // refused until the user acts: show the play button
    });
  }

  function pause() {
    engine.pause();
  }

  function toggle() {
    if (!current()) return;
    if (engine.paused) play();
    else pause();
  }

  // The queue changed; `autoplay` loads and plays its current track.
  function changed({ reload = false, autoplay = true } = {}) {
    engine.forgetPreload();
    if (reload && current()) load(current(), { autoplay });
    renderQueue();
    render();
    saver.now();
    remote.soon();
  }

  function go(pos) {
    if (queue.go(pos)) changed({ reload: true });
  }

  // auto: the track ended by itself.
  function next(auto = false) {
    if (!auto && radio && current()) radio.noteLeft(current().id, engine.currentTime);
    const before = queue.pos;
    const track = queue.next({ auto });
    if (!track) {
      if (auto) {
        playing = false;
        saver.now();
        render();
      }
      return;
    }
    if (queue.pos === before) {
      // Repeat-one, or a queue of one on repeat-all: the same element again.
      engine.restart();
      play();
      return;
    }
    changed({ reload: true });
  }

  function prev() {
    if (!current()) return;
    if (engine.currentTime > RESTART_AFTER || !queue.prev()) {
      engine.restart();
      return;
    }
    changed({ reload: true });
  }

  function seekBy(seconds) {
    if (current()) engine.seekBy(seconds, current().duration);
  }

  function seekTo(seconds) {
    if (current()) engine.seek(seconds);
  }

  function mute() {
    engine.setMuted(!engine.muted);
    render();
    saver.now();
  }

  function setVolume(volume) {
    engine.setVolume(volume);
    if (volume > 0 && engine.muted) engine.setMuted(false);
    render();
    saver.soon();
  }

  function clear() {
    radio = null;
    engine.stop();
    queue.clear();
    markNowPlaying(null);
    changed();
  }

  // A queue saved on another device (or by a Subsonic app) after this browser
  // last saved its own replaces it, paused where it was left.
  async function restoreFromServer() {
    const before = JSON.stringify(queue.serialise());
    const found = fromServer(await fetchQueue(url("queue")));
    const trackIds = queue.entries().map((entry) => entry.track.id);
    if (!serverWins(found, { hasQueue: Boolean(current()), savedAt: saved.savedAt, trackIds })) return;
    // The user changed the queue while the answer was on its way: theirs wins.
    if (JSON.stringify(queue.serialise()) !== before) return;
    engine.stop();
    playing = false;
    queue.playList(found.tracks, { start: found.start, shuffle: false });
    remote.sent(toServer(queue, found.time));
    load(current(), { startAt: found.time });
    renderQueue();
    render();
  }

  const player = {
    playList(tracks, options) {
      radio = null;
      if (queue.playList(tracks, options)) changed({ reload: true });
    },
    startRadio,
    playNext(track) {
      const started = queue.playNext(track);
      changed({ reload: started });
      if (!started) bar.toast(t("plays_next", { title: track.title }));
    },
    add(track) {
      const started = queue.add(track);
      changed({ reload: started });
      if (!started) bar.toast(t("added_to_queue", { title: track.title }));
    },
    // New page content: mark the playing track's rows, draw its waveforms.
    markRows() {
      markNowPlaying(current()?.id);
      drawPageWaveforms(pageView);
    },
  };

  const bar = new Bar(root, {
    toggle,
    prev,
    next: () => next(false),
    shuffle() {
      queue.setShuffle(!queue.shuffle);
      changed();
    },
    repeat() {
      queue.cycleRepeat();
      changed();
    },
    mute,
    clear,
    metered: toggleMetered,
    favourite() {
      if (current()) toggleFavourite(current().id).catch((error) => console.warn(error));
    },
    normalise() {
      loudness.setMode(nextMode(loudness.mode));
      bar.renderNormalise(loudness.mode);
    },
    like: () => clickLike("like"),
    dislike: () => clickLike("dislike"),
    go,
    move(pos, delta) {
      if (!queue.moveBy(pos, delta)) return;
      changed();
      bar.focusMoveButton(pos + delta, delta);
    },
    remove(pos) {
      const wasPlaying = !engine.paused;
      const currentGone = queue.remove(pos);
      if (!queue.length) clear();
      else changed({ reload: currentGone, autoplay: wasPlaying });
    },
    seek: seekTo,
    volume: setVolume,
  });

  engine.addEventListener("timeupdate", () => {
    renderTime();
    const track = current();
    if (track) {
      const due = listens.update(engine.currentTime, {
        playing: !engine.paused,
        duration: engine.duration || track.duration,
      });
      if (due) {
        reportListen(track.id, { url: url("plays"), csrf: config.csrf })
          .then((count) => count !== null && showPlayCount(track, count))
          .catch(() => listens.failed());
      }
      engine.preloadIfDue(queue.upcoming(), track.id);
      if (!engine.paused) remote.later();
    }
    saver.soon();
  });
  engine.addEventListener("play", () => {
    playing = true;
    render();
    saver.now();
  });
  engine.addEventListener("pause", () => {
    playing = false;
    listens.pause();
    render();
    saver.now();
    remote.soon();
  });
  engine.addEventListener("ended", () => next(true));
  engine.addEventListener("loadedmetadata", renderTime);
  engine.addEventListener("volumechange", render);

  onFavouriteChange(({ trackId, favourite }) => {
    if (current()?.id === trackId) bar.showHeart(favourite);
  });
  onLikeChange(({ trackId, like: state }) => {
    if (current()?.id === trackId) showLikeState(state);
  });
  bindPageButtons(player);
  bindKeyboard({
    hasTrack: () => Boolean(current()),
    toggle,
    seekBy,
    prev,
    next: () => next(false),
    mute,
    help: () => bar.openHelp(),
  });
  bindMediaSession({ play, pause, prev, next: () => next(false), seekBy, seekTo });
  window.addEventListener("pagehide", () => {
    saver.now();
    remote.now();
  });

  if (current()) {
    const resumePlaying = playing;
    load(current(), { startAt: saved.time });
    renderQueue();
    if (resumePlaying) play();
  }
  bar.showMetered(meteredToggle);
  render();
  bar.renderNormalise(loudness.mode);
  drawPageWaveforms(pageView);
  restoreFromServer();
  return player;
}
