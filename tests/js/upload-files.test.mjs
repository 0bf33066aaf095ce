// Which files of a chosen or dropped folder the upload page sends.
import assert from "node:assert/strict";
import { test } from "node:test";

import { classify, fromInput } from "../../static/js/upload-files.js";

const AUDIO = ["mp3", "flac", "ogg"];

test("audio files are sent, by their extension, in any case", () => {
  assert.equal(classify("Band/Album/01 Song.MP3", AUDIO), "audio");
  assert.equal(classify("song.flac", AUDIO), "audio");
});

test("other files are skipped, hidden ones and Mac resource forks too", () => {
  assert.equal(classify("Band/Album/cover.jpg", AUDIO), "other");
  assert.equal(classify("Band/Album/README", AUDIO), "other");
  assert.equal(classify("Band/.DS_Store", AUDIO), "hidden");
  assert.equal(classify("Band/.git/x.mp3", AUDIO), "hidden");
  assert.equal(classify("__MACOSX/Band/x.mp3", AUDIO), "hidden");
  assert.equal(classify(".mp3", AUDIO), "hidden");
});

test("a ZIP archive goes to the server for its preview", () => {
  assert.equal(classify("Backups/music.ZIP", AUDIO), "archive");
});

test("an input's files keep their path inside the chosen folder", () => {
  const files = [{ name: "a.mp3", webkitRelativePath: "Album/a.mp3" }, { name: "b.mp3", webkitRelativePath: "" }];
  assert.deepEqual(
    fromInput(files).map((f) => f.path),
    ["Album/a.mp3", "b.mp3"],
  );
});

// Stand-ins for the browser's File and Directory Entries (FileSystemEntry) objects.
function fileEntry(fullPath) {
  return { isFile: true, isDirectory: false, name: fullPath.split("/").pop(), fullPath, file: (ok) => ok({ fullPath }) };
}

function dirEntry(fullPath, children) {
  const pieces = [children.slice(0, 2), children.slice(2), []]; // readEntries answers in pieces
  return {
    isFile: false,
    isDirectory: true,
    name: fullPath.split("/").pop(),
    fullPath,
    createReader: () => ({ readEntries: (ok) => ok(pieces.shift() || []) }),
  };
}

test("a dropped folder is walked to the end, in name order, with paths", async () => {
  const tree = dirEntry("/Band", [
    fileEntry("/Band/b.mp3"),
    dirEntry("/Band/Album", [fileEntry("/Band/Album/2.mp3"), fileEntry("/Band/Album/1.mp3")]),
    fileEntry("/Band/a.txt"),
  ]);
  const { fromDrop } = await import("../../static/js/upload-files.js");
  const found = await fromDrop({ items: [{ kind: "file", webkitGetAsEntry: () => tree }] });
  assert.deepEqual(
    found.map((f) => f.path),
    ["Band/a.txt", "Band/Album/1.mp3", "Band/Album/2.mp3", "Band/b.mp3"],
  );
});
