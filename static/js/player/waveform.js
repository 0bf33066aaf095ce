// Waveforms in the BBC audiowaveform "waveform-data" JSON layout (version 2,
// one channel, 8-bit min/max pairs), as /library/tracks/<id>/waveform.json
// serves them: drawn on a canvas in the player's seek bar and on a track's page.
// The pure parts (checking the data, fitting it to a width) are unit-tested.

// Whether `data` is a waveform this code can draw.
export function isWaveform(data) {
  if (typeof data !== "object" || data === null) return false;
  const { version, channels, bits, length, data: values } = data;
  return (
    version === 2 &&
    channels === 1 &&
    bits === 8 &&
    Number.isInteger(length) &&
    length > 0 &&
    Array.isArray(values) &&
    values.length === 2 * length &&
    values.every((v) => Number.isInteger(v) && v >= -128 && v <= 127)
  );
}

// The waveform fitted to `width` columns: [{low, high}] in -1..1, each column the
// extremes of the pairs it covers (so a short peak is never lost).
export function columns(data, width) {
  const count = Math.max(1, Math.floor(width));
  const out = [];
  for (let column = 0; column < count; column++) {
    const from = Math.floor((column * data.length) / count);
    const to = Math.max(from + 1, Math.floor(((column + 1) * data.length) / count));
    let low = 127;
    let high = -128;
    for (let pixel = from; pixel < to && pixel < data.length; pixel++) {
      low = Math.min(low, data.data[2 * pixel]);
      high = Math.max(high, data.data[2 * pixel + 1]);
    }
    if (low > high) low = high = 0;
    out.push({ low: low / 128, high: high / 127 });
  }
  return out;
}

// Draws the waveform over the canvas's width; the part before `progress`
// (0..1) in the played colour. Colours come from the canvas's CSS.
export function draw(canvas, data, progress = 0) {
  const context = canvas.getContext("2d");
  if (!context) return;
  const ratio = globalThis.devicePixelRatio || 1;
  // A canvas not laid out yet (hidden) keeps the size its attributes give.
  const width = canvas.clientWidth ? Math.round(canvas.clientWidth * ratio) : canvas.width;
  const height = canvas.clientHeight ? Math.round(canvas.clientHeight * ratio) : canvas.height;
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const style = getComputedStyle(canvas);
  const played = style.getPropertyValue("--wave-played").trim() || "#6c5ce7";
  const rest = style.getPropertyValue("--wave-rest").trim() || "#9a9aa8";
  context.clearRect(0, 0, width, height);
  const middle = height / 2;
  const bars = columns(data, Math.min(width / ratio, data.length));
  const step = width / bars.length;
  const split = progress * bars.length;
  bars.forEach(({ low, high }, i) => {
    context.fillStyle = i < split ? played : rest;
    const top = middle - Math.max(high, 0.01) * middle;
    const bottom = middle - Math.min(low, -0.01) * middle;
    context.fillRect(i * step, top, Math.max(1, step - (step > 2 ? 1 : 0)), bottom - top);
  });
}

const cache = new Map();

// The waveform at `address`, or null (none yet, unreadable, offline). The
// browser's cache keeps the file (its address changes when it is remade).
export function fetchWaveform(address) {
  if (!address) return Promise.resolve(null);
  if (!cache.has(address)) {
    const found = fetch(address, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : null))
      .then((data) => (isWaveform(data) ? data : null))
      .catch(() => null);
    found.then((data) => {
      if (data === null) cache.delete(address); // asked again next time
    });
    cache.set(address, found);
  }
  return cache.get(address);
}

// A track page's waveforms (canvas[data-waveform]); a click on the playing
// track's one seeks there. player: {currentId(), seekFraction(f), progress()}
export function drawPageWaveforms(player) {
  for (const canvas of document.querySelectorAll("#content canvas[data-waveform]")) {
    if (canvas.dataset.bound) continue;
    canvas.dataset.bound = "1";
    fetchWaveform(canvas.dataset.waveform).then((data) => {
      if (!data) return;
      canvas.waveform = data;
      drawPageProgress(player);
    });
    canvas.addEventListener("click", (event) => {
      if (String(player.currentId()) !== canvas.dataset.trackId) return;
      const box = canvas.getBoundingClientRect();
      player.seekFraction((event.clientX - box.left) / box.width);
    });
  }
}

// Shows the playing track's position on its page's waveform.
export function drawPageProgress(player) {
  for (const canvas of document.querySelectorAll("#content canvas[data-waveform]")) {
    if (!canvas.waveform) continue;
    const current = String(player.currentId()) === canvas.dataset.trackId;
    draw(canvas, canvas.waveform, current ? player.progress() : 0);
  }
}
