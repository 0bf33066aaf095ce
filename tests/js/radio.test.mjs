// The radio's session state: what counts as a skip, when to ask for more, and
// that nothing played, skipped or queued comes back.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { LOW_WATER, Radio, SKIP_SECONDS } from "../../static/js/player/radio.js";

const track = (id) => ({ id, title: `Song ${id}` });

describe("radio", () => {
  test("the request carries the seed, what was played in order, and the skips", () => {
    const radio = new Radio({ kind: "artist", value: 7 });
    radio.notePlayed(3);
    radio.notePlayed(5);
    radio.notePlayed(3);
    radio.noteLeft(5, SKIP_SECONDS - 1);
    radio.noteLeft(3, SKIP_SECONDS + 1);
    assert.deepEqual(radio.request(4), { seed: { kind: "artist", value: 7 }, played: [3, 5], skipped: [5], count: 4 });
  });

  test("a track is never repeated within the session", () => {
    const radio = new Radio({ kind: "track", value: 1 });
    radio.notePlayed(1);
    radio.noteLeft(2, 3);
    const fresh = radio.fresh([track(1), track(2), track(3), track(4), track(3)], [4]);
    assert.deepEqual(
      fresh.map((t) => t.id),
      [3],
    );
  });

  test("it asks for more when the queue runs low", () => {
    const radio = new Radio({ kind: "genre", value: "Jazz" });
    assert.equal(radio.needsMore(LOW_WATER - 1), true);
    assert.equal(radio.needsMore(LOW_WATER), false);
  });
});
