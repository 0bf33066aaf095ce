import assert from "node:assert/strict";
import { test } from "node:test";

import { canPlayOpus, chooseQuality, isMetered, streamUrl } from "../../static/js/player/quality.js";

test("metered: the toggle, data saver, a cellular or slow link", () => {
  assert.equal(isMetered(false, undefined), false);
  assert.equal(isMetered(true, undefined), true);
  assert.equal(isMetered(false, { saveData: true }), true);
  assert.equal(isMetered(false, { type: "cellular" }), true);
  assert.equal(isMetered(false, { effectiveType: "3g" }), true);
  assert.equal(isMetered(false, { type: "wifi", effectiveType: "4g", saveData: false }), false);
});

test("the quality follows the user's settings", () => {
  const settings = { web: "high", metered: "low" };
  assert.equal(chooseQuality(settings, false), "high");
  assert.equal(chooseQuality(settings, true), "low");
  assert.equal(chooseQuality(undefined, true), "original");
});

test("stream addresses: original stays plain, no Opus asks for MP3", () => {
  assert.equal(streamUrl("/stream/4", "original", true), "/stream/4");
  assert.equal(streamUrl("/stream/4", "medium", true), "/stream/4?quality=medium");
  assert.equal(streamUrl("/stream/4", "low", false), "/stream/4?quality=low&format=mp3");
});

test("Opus support comes from canPlayType", () => {
  assert.equal(canPlayOpus({ canPlayType: () => "probably" }), true);
  assert.equal(canPlayOpus({ canPlayType: () => "" }), false);
  assert.equal(canPlayOpus(null), false);
});
