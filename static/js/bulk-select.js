// Ticking tracks for a bulk edit: shift-click ticks (or unticks) the whole range from
// the last box clicked; the header box ticks the page; the bar says how many.

// The indexes from `a` to `b`, either way round.
export function span(a, b) {
  const [low, high] = a <= b ? [a, b] : [b, a];
  return Array.from({ length: high - low + 1 }, (_, i) => low + i);
}

// Set every box between the last one clicked and this one to this one's state.
export function applyRange(boxes, lastIndex, index, checked) {
  if (lastIndex === null || lastIndex < 0) return;
  for (const i of span(lastIndex, index)) boxes[i].checked = checked;
}

const boxes = () => [...document.querySelectorAll("input[data-bulk-pick]")];
let last = null;
let listening = false;

function show() {
  const form = document.querySelector("form[data-bulk]");
  const count = form?.querySelector("[data-bulk-count]");
  const all = form?.querySelector("[data-bulk-all]");
  const ticked = boxes().filter((b) => b.checked).length;
  if (count) count.textContent = all?.checked || !ticked ? "" : `${ticked} ✓`;
}

// One listener for the document (pages are swapped in and out; it stays).
function listen() {
  if (listening) return;
  listening = true;
  document.addEventListener("click", (event) => {
    const box = event.target.closest?.("input[data-bulk-pick]");
    if (!box) return;
    const list = boxes();
    const index = list.indexOf(box);
    if (event.shiftKey) applyRange(list, last, index, box.checked);
    last = index;
    show();
  });
  document.addEventListener("change", (event) => {
    if (event.target.matches?.("input[data-bulk-page]")) {
      for (const b of boxes()) b.checked = event.target.checked;
      last = null;
    }
    if (event.target.matches?.("input[data-bulk-page], input[data-bulk-all]")) show();
  });
}

export function initBulkSelect() {
  if (!document.querySelector("form[data-bulk]")) return;
  listen();
  last = null;
  show();
}
