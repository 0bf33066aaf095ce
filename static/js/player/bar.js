// The player bar's UI (templates/_partials/player.html): it shows what it is
// told and turns clicks into calls on `actions`; it holds no player state.
import { t } from "../config.js";
import { showHeart } from "../favourites.js";
import { showLike } from "../likes.js";
import { clock } from "../format.js";
import { iconButton, setIcon } from "../icons.js";
import { draw } from "./waveform.js";

const TOAST_MS = 2500;
const REPEAT_ICONS = { off: "repeat", all: "repeat", one: "repeat-one" };
const REPEAT_LABELS = { off: "repeat_off", all: "repeat_all", one: "repeat_one" };

export class Bar {
  // actions: {toggle, prev, next, shuffle, repeat, mute, clear, favourite, normalise, like, dislike,
  //           go(pos), move(pos, delta), remove(pos), seek(seconds), volume(value)}
  constructor(root, actions) {
    this.root = root;
    this.actions = actions;
    const $ = (selector) => root.querySelector(selector);
    this.ui = {
      title: $(".player-title"),
      artist: $(".player-artist"),
      cover: $(".player-cover"),
      toggle: $('[data-action="toggle"]'),
      shuffle: $('[data-action="shuffle"]'),
      repeat: $('[data-action="repeat"]'),
      mute: $('[data-action="mute"]'),
      heart: $('[data-action="favourite"]'),
      like: $('[data-action="like"]'),
      dislike: $('[data-action="dislike"]'),
      seek: $(".seek"),
      seekWrap: $(".seek-wrap"),
      wave: $(".seek-wave"),
      normalise: $('[data-action="normalise"]'),
      volume: $(".volume"),
      elapsed: $("[data-elapsed]"),
      total: $("[data-total]"),
      queuePanel: $("#queue-panel"),
      queueList: $(".queue-list"),
      help: $(".help-dialog"),
      sound: $(".player-sound"),
      metered: $('[data-action="metered"]'),
    };
    this.toastTimer = null;
    this.waveform = null;
    this.progress = 0;
    window.addEventListener("resize", () => this.#drawWave());
    root.addEventListener("click", (event) => this.#onClick(event));
    this.ui.seek.addEventListener("input", () => actions.seek(parseFloat(this.ui.seek.value)));
    this.ui.volume.addEventListener("input", () => actions.volume(parseFloat(this.ui.volume.value)));
  }

  showTrack(track) {
    const { ui } = this;
    this.root.hidden = false;
    document.body.classList.add("has-player");
    ui.sound.textContent = "";
    ui.title.textContent = track.title;
    ui.title.href = track.page;
    ui.artist.textContent = track.artist;
    ui.cover.src = track.cover;
    ui.total.textContent = clock(track.duration);
    ui.seek.max = String(track.duration || 0);
    this.showWaveform(null);
  }

  // The seek bar draws the track's waveform (null: the plain bar).
  showWaveform(data) {
    const { ui } = this;
    this.waveform = data;
    ui.wave.hidden = !data;
    ui.seekWrap.classList.toggle("has-wave", Boolean(data));
    this.#drawWave();
  }

  renderNormalise(mode) {
    const button = this.ui.normalise;
    button.textContent = t(`normalise_${mode}_short`);
    button.setAttribute("aria-label", t(`normalise_${mode}`));
    button.title = t(`normalise_${mode}`);
    button.setAttribute("aria-pressed", String(mode !== "off"));
  }

  #drawWave() {
    if (this.waveform) draw(this.ui.wave, this.waveform, this.progress);
  }

  // What plays: {codec, bitrate (kbit/s), transcoded}.
  showSound({ codec, bitrate, transcoded }) {
    const values = { codec, bitrate };
    this.ui.sound.textContent = t(transcoded ? "sound_transcoded" : "sound_original", values);
  }

  showMetered(on) {
    this.ui.metered.setAttribute("aria-pressed", on ? "true" : "false");
  }

  hide() {
    this.root.hidden = true;
    document.body.classList.remove("has-player");
  }

  renderControls({ playing, shuffle, repeat, muted, volume }) {
    const { ui } = this;
    setIcon(ui.toggle, playing ? "pause" : "play");
    ui.toggle.setAttribute("aria-label", t(playing ? "pause" : "play"));
    ui.shuffle.setAttribute("aria-pressed", String(shuffle));
    ui.repeat.dataset.mode = repeat;
    setIcon(ui.repeat, REPEAT_ICONS[repeat]);
    ui.repeat.setAttribute("aria-label", t(REPEAT_LABELS[repeat]));
    ui.repeat.setAttribute("aria-pressed", String(repeat !== "off"));
    ui.mute.setAttribute("aria-pressed", String(muted));
    setIcon(ui.mute, muted || volume === 0 ? "mute" : "volume");
    ui.mute.setAttribute("aria-label", t(muted ? "unmute" : "mute"));
    ui.volume.value = String(volume);
  }

  renderTime(time, duration) {
    const { ui } = this;
    ui.elapsed.textContent = clock(time);
    ui.total.textContent = clock(duration);
    // Not while the user drags it, or the thumb would jump back under the pointer.
    if (document.activeElement !== ui.seek) {
      ui.seek.max = String(duration);
      ui.seek.value = String(time);
    }
    this.progress = duration > 0 ? Math.min(1, time / duration) : 0;
    this.#drawWave();
  }

  // entries: the queue's entries() (track, pos, current), in play order.
  renderQueue(entries) {
    const list = this.ui.queueList;
    list.textContent = "";
    for (const { track, pos, current } of entries) {
      const item = document.createElement("li");
      if (current) {
        item.className = "current";
        item.setAttribute("aria-current", "true");
      }
      const play = document.createElement("button");
      play.type = "button";
      play.className = "queue-track";
      play.dataset.go = String(pos);
      const title = document.createElement("strong");
      title.textContent = track.title;
      const artist = document.createElement("span");
      artist.textContent = track.artist;
      play.append(title, artist);
      item.appendChild(play);
      const up = iconButton("up", t("queue_move_up", { title: track.title }));
      up.dataset.move = "-1";
      const down = iconButton("down", t("queue_move_down", { title: track.title }));
      down.dataset.move = "1";
      const remove = iconButton("close", t("queue_remove", { title: track.title }));
      remove.dataset.remove = String(pos);
      for (const button of [up, down, remove]) {
        button.dataset.pos = String(pos);
        item.appendChild(button);
      }
      list.appendChild(item);
    }
  }

  // After a move the list is redrawn; keyboard users keep their place.
  focusMoveButton(pos, delta) {
    const button = this.ui.queueList.querySelector(`li:nth-child(${pos + 1}) [data-move="${delta}"]`);
    if (button) button.focus();
  }

  showHeart(on) {
    showHeart(this.ui.heart, on);
  }

  // state: "like", "dislike" or "none".
  showLike(state) {
    if (this.ui.like) showLike(this.ui.like, state);
    if (this.ui.dislike) showLike(this.ui.dislike, state);
  }

  toast(text) {
    let toast = this.root.querySelector(".player-toast");
    if (!toast) {
      toast = document.createElement("p");
      toast.className = "player-toast";
      toast.setAttribute("role", "status");
      this.root.appendChild(toast);
    }
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => {
      toast.hidden = true;
    }, TOAST_MS);
  }

  openHelp() {
    if (!this.ui.help.open) this.ui.help.showModal();
  }

  #toggleQueuePanel(button) {
    const panel = this.ui.queuePanel;
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
    button.setAttribute("aria-label", t(panel.hidden ? "show_queue" : "hide_queue"));
  }

  #onClick(event) {
    const button = event.target.closest("button");
    if (!button) return;
    const { actions } = this;
    const { dataset } = button;
    if (dataset.go !== undefined) return actions.go(parseInt(dataset.go, 10));
    if (dataset.move !== undefined) return actions.move(parseInt(dataset.pos, 10), parseInt(dataset.move, 10));
    if (dataset.remove !== undefined) return actions.remove(parseInt(dataset.remove, 10));
    switch (dataset.action) {
      case "queue":
        return this.#toggleQueuePanel(button);
      case "help":
        return this.openHelp();
      case "toggle":
      case "prev":
      case "next":
      case "shuffle":
      case "repeat":
      case "mute":
      case "clear":
      case "favourite":
      case "normalise":
      case "metered":
      case "like":
      case "dislike":
        return actions[dataset.action]();
    }
  }
}
