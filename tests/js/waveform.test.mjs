// The waveform as the seek bar and a track's page draw it: the server's
// waveform-data JSON checked, then fitted to the canvas's width without
// losing a peak or moving a silence.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { columns, isWaveform } from "../../static/js/player/waveform.js";

// `pairs` [min, max] in 8-bit values, as the server writes them.
function waveform(pairs) {
  return {
    version: 2,
    channels: 1,
    sample_rate: 8000,
    samples_per_pixel: 80,
    bits: 8,
    length: pairs.length,
    data: pairs.flat(),
  };
}

describe("isWaveform", () => {
  test("takes the server's layout", () => {
    assert.equal(isWaveform(waveform([[-10, 10], [0, 0]])), true);
  });

  test("refuses anything else", () => {
    const good = waveform([[-10, 10]]);
    for (const bad of [
      null,
      "[]",
      { ...good, version: 1 },
      { ...good, channels: 2 },
      { ...good, bits: 16 },
      { ...good, length: 2 },
      { ...good, data: [-10, 300] },
      { ...good, data: [-10, "10"] },
      { ...good, length: 0, data: [] },
    ]) {
      assert.equal(isWaveform(bad), false, JSON.stringify(bad));
    }
  });
});

describe("columns", () => {
  test("one column per pair when the widths match, scaled to -1..1", () => {
    const cols = columns(waveform([[-128, 127], [0, 0], [-64, 32]]), 3);
    assert.deepEqual(cols, [
      { low: -1, high: 1 },
      { low: 0, high: 0 },
      { low: -0.5, high: 32 / 127 },
    ]);
  });

  test("fewer columns keep every peak", () => {
    const pairs = Array.from({ length: 1000 }, () => [-1, 1]);
    pairs[777] = [-120, 125]; // one short, loud moment
    const cols = columns(waveform(pairs), 100);
    assert.equal(cols.length, 100);
    assert.equal(cols[77].high, 125 / 127);
    assert.equal(cols.filter((c) => c.high > 0.5).length, 1);
  });

  test("a silence in the middle stays in the middle", () => {
    const pairs = Array.from({ length: 900 }, (_, i) => (i >= 300 && i < 600 ? [0, 0] : [-100, 100]));
    const cols = columns(waveform(pairs), 90);
    const silent = cols.map((c, i) => (c.high === 0 ? i : -1)).filter((i) => i >= 0);
    assert.deepEqual(silent, Array.from({ length: 30 }, (_, i) => 30 + i));
  });

  test("more columns than pairs repeat them", () => {
    const cols = columns(waveform([[-128, 127], [0, 0]]), 4);
    assert.deepEqual(
      cols.map((c) => c.high),
      [1, 1, 0, 0],
    );
  });
});
