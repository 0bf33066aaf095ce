// A playlist's owner drags its rows into a new order. The table carries the
// playlist's own move URL (data-reorder-url) only for the owner; the page is
// then fetched again so numbers and positions come from the server.
import { config } from "./config.js";

export function initReorder() {
  const table = document.querySelector("table.playlist-entries[data-reorder-url]");
  if (!table || table.dataset.reorderReady) return;
  table.dataset.reorderReady = "1";
  const body = table.tBodies[0];
  const rowNumber = (row) => Array.prototype.indexOf.call(body.rows, row) + 1;
  let dragging = null;
  let from = 0;

  table.addEventListener("dragstart", (event) => {
    dragging = event.target.closest("tr[data-entry-id]");
    if (!dragging) return;
    from = rowNumber(dragging);
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragging.dataset.entryId);
    dragging.classList.add("dragging");
  });
  table.addEventListener("dragover", (event) => {
    if (!dragging) return;
    event.preventDefault();
    const row = event.target.closest("tr[data-entry-id]");
    if (!row || row === dragging) return;
    const box = row.getBoundingClientRect();
    body.insertBefore(dragging, event.clientY > box.top + box.height / 2 ? row.nextSibling : row);
  });
  table.addEventListener("drop", (event) => {
    if (dragging) event.preventDefault();
  });
  table.addEventListener("dragend", () => {
    if (!dragging) return;
    const row = dragging;
    const to = rowNumber(row);
    row.classList.remove("dragging");
    dragging = null;
    if (to !== from) save(table, row.dataset.entryId, to);
  });
}

async function save(table, entryId, position) {
  const form = new FormData();
  form.append("csrf_token", config.csrf);
  form.append("entry", entryId);
  form.append("position", String(position));
  try {
    const response = await fetch(table.dataset.reorderUrl, {
      method: "POST",
      body: form,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error(`reorder: HTTP ${response.status}`);
    window.htmx.ajax("GET", location.pathname + location.search, {
      target: "#content",
      select: "#content",
      swap: "outerHTML",
    });
  } catch {
    // Show the order the server has, not the one the user dropped.
    location.reload();
  }
}
