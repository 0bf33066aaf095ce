// The resumable upload client against a small in-memory tus server that can drop
// a connection part way through a piece, as a flaky network does.
import assert from "node:assert/strict";
import { test } from "node:test";

import { backoff, MAX_TRIES, Rate, ResumableUpload, timeLeft } from "../../static/js/resumable.js";

class FakeServer {
  constructor() {
    this.uploads = new Map();
    this.drops = []; // PATCH numbers that break off half way
    this.patches = 0;
    this.offline = 0; // requests that fail as if offline
    this.unfinished = 0;
    this.log = [];
  }

  transport = (method, url, { headers, body, onProgress }) => {
    const respond = (status, extra = {}, text = "") => ({
      status,
      body: text,
      header: (name) => extra[name] ?? null,
    });
    const done = (async () => {
      this.log.push(method);
      if (this.offline > 0) {
        this.offline -= 1;
        return respond(0);
      }
      if (method === "POST") {
        const id = `/up/${this.uploads.size + 1}`;
        this.uploads.set(id, { length: Number(headers["Upload-Length"]), bytes: [] });
        return respond(201, { Location: id });
      }
      const upload = this.uploads.get(url);
      if (!upload) return respond(404);
      if (method === "HEAD") return respond(200, { "Upload-Offset": String(upload.bytes.length) });
      if (method === "GET") {
        // `unfinished`: GETs that find every byte there and the file not added yet.
        if (this.unfinished > 0) {
          this.unfinished -= 1;
          return respond(200, {}, JSON.stringify({ result: null }));
        }
        return respond(200, {}, JSON.stringify({ result: { status: "added", bytes: upload.bytes } }));
      }
      // PATCH
      this.patches += 1;
      if (Number(headers["Upload-Offset"]) !== upload.bytes.length) return respond(409);
      const data = [...new Uint8Array(await body.arrayBuffer())];
      if (this.drops.includes(this.patches)) {
        const half = data.slice(0, Math.floor(data.length / 2));
        upload.bytes.push(...half);
        onProgress?.(half.length);
        return respond(0); // the connection broke: the server kept what arrived
      }
      upload.bytes.push(...data);
      onProgress?.(data.length);
      return respond(204, { "Upload-Offset": String(upload.bytes.length) });
    })();
    return { done, abort() {} };
  };
}

function file(size, name = "song.mp3") {
  const bytes = new Uint8Array(size).map((_, i) => (i * 7) % 251);
  const blob = new Blob([bytes]);
  return { blob: Object.assign(blob, { name, lastModified: 1 }), bytes: [...bytes] };
}

function memoryStore() {
  const items = new Map();
  return { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, v), removeItem: (k) => items.delete(k) };
}

const noWait = async () => {};

test("a file arrives whole, in pieces", async () => {
  const server = new FakeServer();
  const { blob, bytes } = file(10_000);
  const up = new ResumableUpload({ file: blob, path: "a.mp3", endpoint: "/up/", csrf: "t", transport: server.transport, piece: 3000, wait: noWait });
  const result = await up.run();
  assert.deepEqual(result.bytes, bytes);
  assert.equal(server.patches, 4);
});

test("every byte sent but the file not added yet: it asks again until the result is there", async () => {
  const server = new FakeServer();
  server.unfinished = 2;
  const { blob, bytes } = file(5_000);
  const up = new ResumableUpload({ file: blob, path: "a.mp3", endpoint: "/up/", csrf: "t", transport: server.transport, piece: 3000, wait: noWait });
  const result = await up.run();
  assert.deepEqual(result.bytes, bytes);
  // Nothing sent twice: each time it asks where the upload is, then for the result.
  assert.deepEqual(server.log, ["POST", "PATCH", "PATCH", "GET", "HEAD", "GET", "HEAD", "GET"]);
});

test("a dropped piece is resumed from the offset the server confirms, with a growing wait", async () => {
  const server = new FakeServer();
  server.drops = [2, 3];
  const { blob, bytes } = file(10_000);
  const waits = [];
  const up = new ResumableUpload({
    file: blob, path: "a.mp3", endpoint: "/up/", csrf: "t", transport: server.transport, piece: 4000,
    wait: async (ms) => waits.push(ms),
  });
  const result = await up.run();
  assert.deepEqual(result.bytes, bytes); // identical, nothing sent twice
  assert.deepEqual(waits, [1000, 2000]);
  assert.ok(server.log.filter((m) => m === "HEAD").length >= 2);
});

test("offline for a while, then back", async () => {
  const server = new FakeServer();
  const { blob, bytes } = file(5000);
  const up = new ResumableUpload({ file: blob, path: "a.mp3", endpoint: "/up/", csrf: "t", transport: server.transport, piece: 2000, wait: noWait });
  server.offline = 3;
  assert.deepEqual((await up.run()).bytes, bytes);
});

test("it gives up after MAX_TRIES failures in a row", async () => {
  const server = new FakeServer();
  server.offline = MAX_TRIES + 5;
  const { blob } = file(100);
  const up = new ResumableUpload({ file: blob, path: "a.mp3", endpoint: "/up/", csrf: "t", transport: server.transport, wait: noWait });
  await assert.rejects(up.run());
});

test("while the browser knows it is offline no try is spent, however long it lasts", async () => {
  const server = new FakeServer();
  const { blob, bytes } = file(5000);
  const waits = [];
  let told = 0;
  const up = new ResumableUpload({
    file: blob, path: "a.mp3", endpoint: "/up/", csrf: "t", transport: server.transport, piece: 2000,
    wait: async (ms) => {
      waits.push(ms);
      if (waits.length === MAX_TRIES * 3) server.offline = 0; // the network is back
    },
    online: () => server.offline === 0,
  });
  up.onoffline = () => { told += 1; };
  server.offline = Infinity; // no network: every request fails without an answer
  assert.deepEqual((await up.run()).bytes, bytes);
  assert.equal(told, 1);
  assert.equal(up.tries, 0);
  assert.equal(waits.length, MAX_TRIES * 3);
  assert.ok(waits.every((ms) => ms === 5000), waits);
});

test("choosing the same file again resumes the upload the page started before", async () => {
  const server = new FakeServer();
  const store = memoryStore();
  const { blob, bytes } = file(9000);
  server.drops = [2];
  server.offline = 0;
  const first = new ResumableUpload({
    file: blob, path: "Album/a.mp3", endpoint: "/up/", csrf: "t", transport: server.transport, store, piece: 3000,
    wait: async () => { throw new Error("the page was closed"); },
  });
  await assert.rejects(first.run());
  const kept = server.uploads.get("/up/1").bytes.length;
  assert.equal(kept, 4500);
  const again = new ResumableUpload({ file: blob, path: "Album/a.mp3", endpoint: "/up/", csrf: "t", transport: server.transport, store, piece: 3000, wait: noWait });
  assert.deepEqual((await again.run()).bytes, bytes);
  assert.equal(server.uploads.size, 1); // the same upload, not a new one
  assert.equal(store.getItem(again.key), null); // forgotten once finished
});

test("backoff doubles up to 30 s", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(backoff), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
});

test("speed over a sliding window, and the time left", () => {
  const rate = new Rate(5000);
  rate.add(1_000_000, 1000);
  rate.add(1_000_000, 2000);
  rate.add(1_000_000, 3000);
  assert.equal(Math.round(rate.perSecond(3000)), 1_500_000);
  rate.add(0, 20_000);
  assert.equal(rate.perSecond(20_000), 0);
  assert.equal(timeLeft(3_000_000, 1_500_000), 2);
  assert.equal(timeLeft(100, 0), null);
});
