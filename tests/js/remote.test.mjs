// What the player sends to the server's play queue, and when the server's
// queue replaces the one this browser kept.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Queue } from "../../static/js/player/queue.js";
import { fromServer, serverWins, toServer } from "../../static/js/player/remote.js";

function track(id) {
  return {
    id,
    title: `Song ${id}`,
    artist: "Band",
    album: "Album",
    duration: 180,
    stream: `/stream/${id}`,
    cover: `/stream/${id}/cover`,
    page: `/library/tracks/${id}`,
  };
}

describe("toServer", () => {
  test("sends the tracks in play order, the current one and the position in milliseconds", () => {
    const queue = new Queue({ user: 1 });
    queue.playList([track(1), track(2), track(3)], { start: 1 });
    assert.deepEqual(toServer(queue, 12.3456), { track_ids: [1, 2, 3], current: 1, position_ms: 12346 });
  });

  test("a shuffled queue is sent as it plays", () => {
    const queue = new Queue({ user: 1, random: () => 0 });
    queue.playList([track(1), track(2), track(3)], { start: 2, shuffle: true });
    const sent = toServer(queue, 0);
    assert.deepEqual(sent.track_ids, queue.entries().map((e) => e.track.id));
    assert.equal(sent.track_ids[sent.current], 3);
  });

  test("an empty queue clears the saved one", () => {
    assert.deepEqual(toServer(new Queue({ user: 1 }), 5), { track_ids: [], current: null, position_ms: 0 });
  });
});

describe("fromServer", () => {
  const answer = {
    tracks: [track(4), track(5)],
    current: 1,
    position_ms: 61500,
    changed_at: "2026-11-30T21:00:00+00:00",
    changed_by: "DSub",
  };

  test("gives the tracks, where to start and when it was saved", () => {
    assert.deepEqual(fromServer(answer), {
      tracks: [track(4), track(5)],
      start: 1,
      time: 61.5,
      changedAt: Date.parse("2026-11-30T21:00:00Z"),
    });
  });

  test("a queue without a current track starts at its top", () => {
    assert.deepEqual(
      { ...fromServer({ ...answer, current: null }), tracks: null },
      { tracks: null, start: 0, time: 0, changedAt: Date.parse("2026-11-30T21:00:00Z") },
    );
    assert.equal(fromServer({ ...answer, current: 7 }).start, 0);
  });

  test("nothing saved, or something unusable, gives null", () => {
    for (const data of [null, {}, { tracks: [] }, { tracks: "x" }, { ...answer, tracks: [{ id: "4" }] }]) {
      assert.equal(fromServer(data), null, JSON.stringify(data));
    }
  });

  test("an unreadable date counts as long ago", () => {
    assert.equal(fromServer({ ...answer, changed_at: null }).changedAt, 0);
  });
});

describe("serverWins", () => {
  const remote = { tracks: [track(1)], start: 0, time: 0, changedAt: 2000 };

  test("a browser with no queue of its own takes the server's (a new device after login)", () => {
    assert.equal(serverWins(remote, { hasQueue: false, savedAt: 5000 }), true);
  });

  test("the newer queue wins", () => {
    assert.equal(serverWins(remote, { hasQueue: true, savedAt: 1000, trackIds: [2] }), true);
    assert.equal(serverWins(remote, { hasQueue: true, savedAt: 3000, trackIds: [2] }), false);
  });

  test("the same tracks keep this browser's own state (its save as it left the page reached the server later)", () => {
    assert.equal(serverWins(remote, { hasQueue: true, savedAt: 1000, trackIds: [1] }), false);
  });

  test("nothing on the server changes nothing", () => {
    assert.equal(serverWins(null, { hasQueue: false, savedAt: 0 }), false);
  });
});
