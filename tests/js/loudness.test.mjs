// Loudness normalisation's setting and the factor each track gets.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { gainFor, loadMode, MODES, nextMode, saveMode } from "../../static/js/player/loudness.js";

function memoryStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => items.set(key, String(value)),
  };
}

const measured = { id: 1, gain: { track: -6, album: -3, source: "loudness" } };

describe("gainFor", () => {
  test("off, or a track not measured yet, plays as it is", () => {
    assert.equal(gainFor(measured, "off"), 1);
    assert.equal(gainFor({ id: 2 }, "track"), 1);
    assert.equal(gainFor({ id: 2, gain: null }, "album"), 1);
  });

  test("track and album gains in dB become factors", () => {
    assert.ok(Math.abs(gainFor(measured, "track") - 10 ** (-6 / 20)) < 1e-12);
    assert.ok(Math.abs(gainFor(measured, "album") - 10 ** (-3 / 20)) < 1e-12);
  });

  test("album falls back to the track's gain", () => {
    assert.equal(gainFor({ gain: { track: -6 } }, "album"), gainFor({ gain: { track: -6 } }, "track"));
  });

  test("absurd gains are held to -24..+12 dB", () => {
    assert.ok(Math.abs(gainFor({ gain: { track: 60 } }, "track") - 10 ** (12 / 20)) < 1e-12);
    assert.ok(Math.abs(gainFor({ gain: { track: -90 } }, "track") - 10 ** (-24 / 20)) < 1e-12);
    assert.equal(gainFor({ gain: { track: "loud" } }, "track"), 1);
  });
});

describe("the setting", () => {
  test("cycles off, track, album", () => {
    assert.deepEqual(MODES, ["off", "track", "album"]);
    assert.equal(nextMode("off"), "track");
    assert.equal(nextMode("track"), "album");
    assert.equal(nextMode("album"), "off");
  });

  test("is kept per browser, off unless set", () => {
    const storage = memoryStorage();
    assert.equal(loadMode(storage), "off");
    saveMode("album", storage);
    assert.equal(loadMode(storage), "album");
    storage.setItem("musiccloud.player.normalise", "loud");
    assert.equal(loadMode(storage), "off");
  });

  test("blocked storage means off, and saving does not throw", () => {
    const blocked = {
      getItem() {
        throw new Error("blocked");
      },
      setItem() {
        throw new Error("blocked");
      },
    };
    assert.equal(loadMode(blocked), "off");
    saveMode("track", blocked);
  });
});
