// The queue's behaviour as a listener meets it: what plays, in which order,
// after shuffling, repeating, moving, removing and reloading the page.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Queue } from "../../static/js/player/queue.js";

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

function tracks(n) {
  return Array.from({ length: n }, (_, i) => track(i + 1));
}

// A small seeded generator, so a failing shuffle can be replayed.
function seeded(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The titles in play order, the current one marked with a star.
function shown(queue) {
  return queue.entries().map((e) => (e.current ? `*${e.track.title}` : e.track.title));
}

// Presses "next" until the queue ends; the ids heard, the current one first.
function playThrough(queue) {
  const heard = [queue.current().id];
  for (let t = queue.next(); t; t = queue.next()) heard.push(t.id);
  return heard;
}

describe("playing a list", () => {
  test("starts at the chosen track and keeps the list's order", () => {
    const q = new Queue({ user: 1 });
    assert.equal(q.playList(tracks(3), { start: 1 }).title, "Song 2");
    assert.deepEqual(shown(q), ["Song 1", "*Song 2", "Song 3"]);
  });

  test("an empty list changes nothing", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(2));
    assert.equal(q.playList([]), null);
    assert.deepEqual(shown(q), ["*Song 1", "Song 2"]);
  });

  test("prev goes back and stops at the first track", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(3), { start: 1 });
    assert.equal(q.prev().title, "Song 1");
    assert.equal(q.prev(), null);
    assert.equal(q.current().title, "Song 1");
  });

  test("clicking an entry plays it", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(3));
    assert.equal(q.go(2).title, "Song 3");
    assert.equal(q.go(7), null);
    assert.equal(q.current().title, "Song 3");
  });
});

describe("shuffle", () => {
  test("keeps the current track first and plays every track exactly once", () => {
    for (let seed = 1; seed <= 50; seed++) {
      const q = new Queue({ user: 1, random: seeded(seed) });
      q.playList(tracks(10), { start: 4 });
      q.setShuffle(true);
      assert.equal(q.pos, 0);
      assert.equal(q.current().id, 5);
      const heard = playThrough(q);
      assert.equal(heard[0], 5);
      assert.deepEqual(
        [...heard].sort((a, b) => a - b),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        `seed ${seed}`,
      );
    }
  });

  test("really changes the order", () => {
    const orders = new Set();
    for (let seed = 1; seed <= 20; seed++) {
      const q = new Queue({ user: 1, random: seeded(seed) });
      q.playList(tracks(6), { start: 0, shuffle: true });
      orders.add(q.entries().map((e) => e.track.id).join(","));
    }
    assert.ok(orders.size > 10, `only ${orders.size} different orders in 20 shuffles`);
  });

  test("a shuffled list without a start begins anywhere and still plays everything", () => {
    const firsts = new Set();
    for (let seed = 1; seed <= 30; seed++) {
      const q = new Queue({ user: 1, random: seeded(seed) });
      q.playList(tracks(5), { shuffle: true });
      firsts.add(q.current().id);
      assert.deepEqual(
        playThrough(q).sort((a, b) => a - b),
        [1, 2, 3, 4, 5],
      );
    }
    assert.ok(firsts.size > 1, "every shuffled play started with the same track");
  });

  test("turning it off returns to the list's order with the same track playing", () => {
    const q = new Queue({ user: 1, random: seeded(3) });
    q.playList(tracks(5), { start: 2 });
    q.setShuffle(true);
    q.next();
    const playing = q.current().title;
    q.setShuffle(false);
    assert.equal(q.current().title, playing);
    assert.deepEqual(
      q.entries().map((e) => e.track.title),
      ["Song 1", "Song 2", "Song 3", "Song 4", "Song 5"],
    );
  });
});

describe("repeat", () => {
  test("off: the queue ends after the last track", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(2), { start: 1 });
    assert.equal(q.upcoming(), null);
    assert.equal(q.next({ auto: true }), null);
    assert.equal(q.next(), null);
    assert.equal(q.current().title, "Song 2");
  });

  test("all: after the last track comes the first", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(2), { start: 1 });
    q.setRepeat("all");
    assert.equal(q.upcoming().title, "Song 1");
    assert.equal(q.next({ auto: true }).title, "Song 1");
    assert.deepEqual(shown(q), ["*Song 1", "Song 2"]);
  });

  test("one: the track plays again when it ends, but next still moves on", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(3));
    q.setRepeat("one");
    assert.equal(q.upcoming().title, "Song 1");
    assert.equal(q.next({ auto: true }).title, "Song 1");
    assert.equal(q.pos, 0);
    assert.equal(q.next().title, "Song 2");
    q.next();
    assert.equal(q.next(), null, "repeat-one does not wrap around to the first track");
  });

  test("the button cycles off, all, one, off; unknown modes are ignored", () => {
    const q = new Queue({ user: 1 });
    assert.deepEqual([q.cycleRepeat(), q.cycleRepeat(), q.cycleRepeat()], ["all", "one", "off"]);
    q.setRepeat("sometimes");
    assert.equal(q.repeat, "off");
  });
});

describe("moving entries", () => {
  test("up and down by one, the current track staying current", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(3));
    assert.ok(q.moveBy(1, -1));
    assert.deepEqual(shown(q), ["Song 2", "*Song 1", "Song 3"]);
    assert.ok(q.moveBy(1, 1));
    assert.deepEqual(shown(q), ["Song 2", "Song 3", "*Song 1"]);
    assert.equal(q.next(), null, "the current track is now the last one");
  });

  test("past either end does nothing", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(3));
    assert.equal(q.moveBy(0, -1), false);
    assert.equal(q.moveBy(2, 1), false);
    assert.deepEqual(shown(q), ["*Song 1", "Song 2", "Song 3"]);
  });

  test("to an index, across the current track", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(5), { start: 2 });
    assert.ok(q.move(4, 0));
    assert.deepEqual(shown(q), ["Song 5", "Song 1", "Song 2", "*Song 3", "Song 4"]);
    assert.ok(q.move(0, 4));
    assert.deepEqual(shown(q), ["Song 1", "Song 2", "*Song 3", "Song 4", "Song 5"]);
    assert.ok(q.move(2, 0));
    assert.deepEqual(shown(q), ["*Song 3", "Song 1", "Song 2", "Song 4", "Song 5"]);
    assert.equal(q.next().title, "Song 1");
  });

  test("a move while shuffled is undone by unshuffling, a move unshuffled is kept", () => {
    const q = new Queue({ user: 1, random: seeded(9) });
    q.playList(tracks(4));
    q.move(3, 1);
    q.setShuffle(true);
    q.move(1, 3);
    q.setShuffle(false);
    assert.deepEqual(shown(q), ["*Song 1", "Song 4", "Song 2", "Song 3"]);
  });
});

describe("removing entries", () => {
  test("the current track: the one after it takes its place", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(3), { start: 1 });
    assert.equal(q.remove(1), true);
    assert.deepEqual(shown(q), ["Song 1", "*Song 3"]);
  });

  test("the current track when it is the last: the one before it becomes current", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(3), { start: 2 });
    assert.equal(q.remove(2), true);
    assert.deepEqual(shown(q), ["Song 1", "*Song 2"]);
  });

  test("a track before the current one", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(3), { start: 1 });
    assert.equal(q.remove(0), false);
    assert.deepEqual(shown(q), ["*Song 2", "Song 3"]);
    assert.equal(q.prev(), null);
  });

  test("the track after the current one", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(3), { start: 1 });
    assert.equal(q.remove(2), false);
    assert.deepEqual(shown(q), ["Song 1", "*Song 2"]);
    assert.equal(q.upcoming(), null);
  });

  test("while shuffled, the rest of the order stays as it was", () => {
    const q = new Queue({ user: 1, random: seeded(5) });
    q.playList(tracks(6), { start: 0, shuffle: true });
    const before = q.entries().map((e) => e.track.id);
    q.remove(2);
    assert.deepEqual(
      q.entries().map((e) => e.track.id),
      before.filter((_, i) => i !== 2),
    );
  });

  test("the only track empties the queue; so does clear, which keeps the settings", () => {
    const q = new Queue({ user: 1 });
    q.playList([track(1)]);
    assert.equal(q.remove(0), true);
    assert.equal(q.current(), null);
    assert.equal(q.length, 0);
    q.playList(tracks(3), { shuffle: true });
    q.setRepeat("all");
    q.clear();
    assert.deepEqual([q.current(), q.length, q.upcoming(), q.shuffle, q.repeat], [null, 0, null, true, "all"]);
  });
});

describe("play next and add to queue", () => {
  test("each play-next goes right after the current track; add goes to the end", () => {
    const q = new Queue({ user: 1 });
    q.playList(tracks(3));
    assert.equal(q.playNext(track(10)), false);
    assert.equal(q.playNext(track(11)), false);
    assert.equal(q.add(track(12)), false);
    assert.deepEqual(shown(q), ["*Song 1", "Song 11", "Song 10", "Song 2", "Song 3", "Song 12"]);
    assert.equal(q.upcoming().title, "Song 11");
  });

  test("with nothing playing, play-next and add start the track", () => {
    const q = new Queue({ user: 1 });
    assert.equal(q.playNext(track(4)), true);
    assert.deepEqual(shown(q), ["*Song 4"]);
    q.clear();
    assert.equal(q.add(track(5)), true);
    assert.deepEqual(shown(q), ["*Song 5"]);
  });

  test("a track played next while shuffled stays next after unshuffling", () => {
    const q = new Queue({ user: 1, random: seeded(2) });
    q.playList(tracks(5), { start: 1, shuffle: true });
    q.playNext(track(9));
    assert.equal(q.upcoming().title, "Song 9");
    q.setShuffle(false);
    assert.deepEqual(shown(q), ["Song 1", "*Song 2", "Song 9", "Song 3", "Song 4", "Song 5"]);
  });
});

describe("saving and restoring (a reload)", () => {
  test("gives back the same queue, position and settings", () => {
    const q = new Queue({ user: 7, random: seeded(4) });
    q.playList(tracks(5), { start: 3, shuffle: true });
    q.next();
    q.setRepeat("one");
    const saved = JSON.stringify(q.serialise());
    const back = Queue.restore(saved, { user: 7 });
    assert.deepEqual(shown(back), shown(q));
    assert.deepEqual([back.shuffle, back.repeat], [true, "one"]);
    assert.equal(back.next().id, q.next().id);
  });

  test("a queue saved by the first player (user id as a string) restores", () => {
    const saved = {
      user: "7",
      queue: tracks(2),
      order: [0, 1],
      pos: 1,
      time: 12.5,
      volume: 0.5,
      muted: false,
      shuffle: false,
      repeat: "all",
      playing: true,
    };
    assert.deepEqual(shown(Queue.restore(saved, { user: 7 })), ["Song 1", "*Song 2"]);
  });

  test("another user's queue on this browser is not shown", () => {
    const q = new Queue({ user: 7 });
    q.playList(tracks(2));
    const back = Queue.restore(JSON.stringify(q.serialise()), { user: 8 });
    assert.deepEqual([back.length, back.current(), back.user], [0, null, 8]);
    assert.equal(Queue.restore(q.serialise(), { user: null }).length, 0);
  });

  test("corrupt or tampered states give an empty queue", () => {
    const good = { user: 1, queue: tracks(3), order: [2, 0, 1], pos: 0, shuffle: true, repeat: "off" };
    assert.equal(Queue.restore(good, { user: 1 }).current().title, "Song 3");
    const bad = [
      null,
      "",
      "{not json",
      "[]",
      42,
      { ...good, queue: "Song 1" },
      { ...good, order: [0, 0, 1] },
      { ...good, order: [0, 1] },
      { ...good, order: [0, 1, 3] },
      { ...good, pos: 3 },
      { ...good, pos: 0.5 },
      { ...good, repeat: "forever" },
      { ...good, shuffle: "yes" },
      { ...good, queue: [track(1), { ...track(2), stream: 5 }, track(3)] },
      { ...good, queue: [track(1), { ...track(2), id: "2" }, track(3)] },
      { ...good, queue: [track(1), null, track(3)] },
    ];
    for (const state of bad) {
      const back = Queue.restore(state, { user: 1 });
      assert.deepEqual([back.length, back.current()], [0, null], JSON.stringify(state));
    }
  });
});
