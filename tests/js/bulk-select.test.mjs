// Shift-click ranges for the bulk edit's ticks.
import assert from "node:assert/strict";
import { test } from "node:test";

import { applyRange, span } from "../../static/js/bulk-select.js";

test("a span runs either way round", () => {
  assert.deepEqual(span(2, 5), [2, 3, 4, 5]);
  assert.deepEqual(span(5, 2), [2, 3, 4, 5]);
  assert.deepEqual(span(3, 3), [3]);
});

test("shift-click ticks the range from the last box to this one, and unticks it too", () => {
  const boxes = Array.from({ length: 8 }, () => ({ checked: false }));
  boxes[1].checked = true;
  boxes[5].checked = true;
  applyRange(boxes, 1, 5, true);
  assert.deepEqual(boxes.map((b) => b.checked), [false, true, true, true, true, true, false, false]);
  boxes[3].checked = false;
  applyRange(boxes, 5, 3, false);
  assert.deepEqual(boxes.map((b) => b.checked), [false, true, true, false, false, false, false, false]);
});

test("without a box clicked before, only the one clicked changes", () => {
  const boxes = [{ checked: false }, { checked: true }];
  applyRange(boxes, null, 1, true);
  assert.deepEqual(boxes.map((b) => b.checked), [false, true]);
});
