// A shared playlist: one player, the list plays in order. Its seek bar draws the
// playing track's waveform and loudness is evened out with the track gain (the
// visitor has no settings), through the main player's own modules.
import { Loudness } from "./player/loudness.js";
import { draw, fetchWaveform } from "./player/waveform.js";

function start() {
  const audio = document.querySelector(".share-audio");
  const wave = document.querySelector(".share-wave");
  const buttons = [...document.querySelectorAll(".share-track")];
  const data = document.getElementById("share-player");
  // What the server says of each track: {id, duration, waveform (its address), gain}.
  const tracks = data ? JSON.parse(data.textContent) : [];
  // Audio from another host (the object store, by redirect) gives a Web Audio graph
  // silence: the page then plays it as it is.
  const loudness = new Loudness([audio], "streamsElsewhere" in document.body.dataset ? "off" : "track");
  let current = -1;
  let shown = null; // the waveform drawn, or null

  function progress() {
    const duration = audio.duration || (tracks[current] && tracks[current].duration) || 0;
    return duration ? Math.min(1, audio.currentTime / duration) : 0;
  }

  function drawWave() {
    if (shown) draw(wave, shown, progress());
  }

  function showWaveform(i) {
    shown = null;
    wave.hidden = true;
    const track = tracks[i];
    fetchWaveform(track && track.waveform).then((found) => {
      if (!found || current !== i) return;
      shown = found;
      wave.hidden = false;
      drawWave();
    });
  }

  function load(i) {
    current = i;
    buttons.forEach((b, j) => b.setAttribute("aria-current", j === i ? "true" : "false"));
    audio.src = buttons[i].dataset.src;
    loudness.use(audio, tracks[i]);
    showWaveform(i);
  }

  function play(i) {
    if (i < 0 || i >= buttons.length) return;
    load(i);
    audio.play();
  }

  buttons.forEach((b, i) => b.addEventListener("click", () => play(i)));
  audio.addEventListener("ended", () => play(current + 1));
  audio.addEventListener("play", () => {
    // The Web Audio graph is built on the visitor's first gesture: the gain applies from then.
    loudness.use(audio, tracks[current]);
    loudness.resume();
  });
  audio.addEventListener("timeupdate", () => {
    drawWave();
    // The factor the gain node applies now (1 when nothing does): for a look from outside.
    audio.dataset.gain = String(loudness.factor(audio));
  });
  audio.addEventListener("seeked", drawWave);
  window.addEventListener("resize", drawWave);
  wave.addEventListener("click", (event) => {
    const duration = audio.duration || (tracks[current] && tracks[current].duration);
    if (!duration) return;
    const box = wave.getBoundingClientRect();
    audio.currentTime = Math.max(0, Math.min(1, (event.clientX - box.left) / box.width)) * duration;
    drawWave();
  });
  if (buttons.length) load(0); // the player's own play button starts at the top
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
