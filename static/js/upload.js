// Upload page: each file goes up in its own request, with its own progress
// bar and result. Without JavaScript the form posts every file at once.
import { t, url } from "./config.js";
import { clock } from "./format.js";
import { classify, fromDrop, fromInput } from "./upload-files.js";

const AT_ONCE = 2; // files uploading at the same time

// Decimal units, as people see them on their devices (and as the page's limit reads).
function fileSize(bytes) {
  if (bytes >= 1e9) return t("size_gb", { n: (bytes / 1e9).toFixed(1) });
  if (bytes >= 1e6) return t("size_mb", { n: Math.round(bytes / 1e6) });
  return t("size_kb", { n: (bytes / 1e3).toFixed(0) });
}

// One result of the upload API as the sentence the user reads.
function describe(result) {
  if (result.status === "added") {
    const { title, artist, duration } = result.track;
    return t("upload_added", { title, artist, duration: clock(Math.round(duration)) });
  }
  if (result.status === "archive") return t("upload_archive");
  if (result.status === "duplicate") {
    return result.track ? t("upload_duplicate_of", { title: result.track.title }) : t("upload_duplicate");
  }
  return t("upload_rejected", { message: result.message });
}

function enhance(form) {
  if (form.dataset.enhanced) return;
  form.dataset.enhanced = "1";
  const inputs = [...form.querySelectorAll('input[type="file"]')];
  const extensions = (form.dataset.audioExtensions || "").split(",");
  const list = form.parentNode.querySelector("[data-upload-list]");
  const zone = form.querySelector("[data-dropzone]");
  const maxBytes = parseInt(form.dataset.maxBytes, 10);
  const maxArchiveBytes = parseInt(form.dataset.maxArchiveBytes || form.dataset.maxBytes, 10);
  const csrf = form.querySelector('input[name="csrf_token"]').value;
  const waiting = [];
  let sending = 0;

  function row(path) {
    const item = document.createElement("li");
    item.className = "upload-item status-waiting";
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = path;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", t("upload_progress", { name: path }));
    const message = document.createElement("span");
    message.className = "upload-message";
    message.textContent = t("upload_waiting");
    item.append(name, bar, message);
    list.appendChild(item);
    return { item, bar, message };
  }

  function finish(ui, status, text, link) {
    ui.item.className = `upload-item status-${status}`;
    ui.bar.value = 100;
    ui.message.textContent = text;
    if (link) {
      ui.message.textContent = "";
      const a = document.createElement("a");
      a.href = link;
      a.textContent = text;
      ui.message.appendChild(a);
    }
  }

  // XMLHttpRequest rather than fetch: fetch reports no upload progress.
  function send({ file, path, ui }) {
    sending += 1;
    ui.item.className = "upload-item status-uploading";
    ui.message.textContent = t("upload_sending");
    const data = new FormData();
    data.append("csrf_token", csrf);
    // A folder's file goes with its path there: its folders name an untagged album.
    data.append("files", file, path);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url("upload"));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      if (!event.lengthComputable) return;
      ui.bar.value = Math.round((event.loaded / event.total) * 100);
      if (event.loaded === event.total) ui.message.textContent = t("upload_reading");
    };
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status === 200 && body?.results?.length) {
        const result = body.results[0];
        finish(ui, result.status, describe(result), result.url || (result.track ? result.track.url : null));
      } else if (body?.message) {
        finish(ui, "rejected", t("upload_rejected", { message: body.message }));
      } else {
        finish(ui, "rejected", t("upload_server_status", { status: xhr.status }));
      }
      done();
    };
    xhr.onerror = () => {
      finish(ui, "rejected", t("upload_connection_lost"));
      done();
    };
    xhr.send(data);
  }

  function done() {
    sending -= 1;
    pump();
  }

  function pump() {
    while (sending < AT_ONCE && waiting.length) send(waiting.shift());
  }

  function add(items) {
    for (const { file, path } of items) {
      const kind = classify(path, extensions);
      if (kind === "hidden") continue;
      const ui = row(path);
      if (kind === "other") {
        finish(ui, "skipped", t("upload_skipped"));
        continue;
      }
      const limit = kind === "archive" ? maxArchiveBytes : maxBytes;
      if (file.size > limit) {
        finish(ui, "rejected", t("upload_too_large", { size: fileSize(file.size), limit: fileSize(limit) }));
        continue;
      }
      waiting.push({ file, path, ui });
    }
    pump();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    for (const input of inputs) {
      add(fromInput(input.files));
      input.value = "";
    }
  });
  for (const input of inputs) {
    input.addEventListener("change", () => {
      add(fromInput(input.files));
      input.value = "";
    });
  }
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
    });
  }
  zone.addEventListener("drop", async (event) => {
    if (event.dataTransfer) add(await fromDrop(event.dataTransfer));
  });
}

export function initUploads() {
  for (const form of document.querySelectorAll("form.upload-form")) enhance(form);
}
