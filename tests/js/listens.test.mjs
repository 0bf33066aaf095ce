// When a listen is reported: half the track or four minutes of real playing.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ListenCounter } from "../../static/js/player/listens.js";

// Plays from `from` to `to` in quarter-second steps; how many reports were due.
function play(counter, from, to, duration) {
  let reports = 0;
  for (let t = from; t <= to + 1e-9; t += 0.25) {
    if (counter.update(t, { playing: true, duration })) reports += 1;
  }
  return reports;
}

test("half of a short track, reported once", () => {
  const c = new ListenCounter();
  assert.equal(play(c, 0, 14.5, 30), 0);
  assert.equal(play(c, 14.75, 15.25, 30), 1);
  assert.equal(play(c, 15.5, 29, 30), 0);
});

test("four minutes of a long track", () => {
  const c = new ListenCounter();
  assert.equal(play(c, 0, 239.5, 3600), 0);
  assert.equal(play(c, 239.75, 240.25, 3600), 1);
});

test("seeking forward does not count as listening", () => {
  const c = new ListenCounter();
  assert.equal(play(c, 0, 2, 30), 0);
  assert.equal(play(c, 20, 29.75, 30), 0, "only about 12 seconds were heard");
  assert.equal(play(c, 10, 13, 30), 0, "14.5 seconds heard");
  assert.equal(play(c, 13.25, 14, 30), 1);
});

test("time while paused does not count", () => {
  const c = new ListenCounter();
  play(c, 0, 10, 30);
  c.pause();
  assert.equal(c.update(11, { playing: false, duration: 30 }), false);
  assert.equal(c.update(12, { playing: false, duration: 30 }), false);
  assert.equal(c.heard, 10);
});

test("a failed report is retried; a new track starts from zero", () => {
  const c = new ListenCounter();
  assert.equal(play(c, 0, 15, 30), 1);
  c.failed();
  assert.equal(c.update(15.25, { playing: true, duration: 30 }), true);
  c.reset();
  assert.equal(play(c, 0, 10, 30), 0);
});
