// Upload page: each file goes up on its own, resumably (tus, static/js/resumable.js),
// with its own progress bar, speed, time left, pause button and result, and an
// overall line with the speed and the time left, and a button to pause and resume
// everything. Without JavaScript the form posts every file at once.
import { t, url } from "./config.js";
import { clock } from "./format.js";
import { Rate, ResumableUpload, timeLeft, xhrTransport } from "./resumable.js";
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

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null; // private mode: uploads still resume within the page
  }
}

function enhance(form) {
  if (form.dataset.enhanced) return;
  form.dataset.enhanced = "1";
  const inputs = [...form.querySelectorAll('input[type="file"]')];
  const extensions = (form.dataset.audioExtensions || "").split(",");
  const list = form.parentNode.querySelector("[data-upload-list]");
  const summary = form.parentNode.querySelector("[data-upload-summary]");
  const zone = form.querySelector("[data-dropzone]");
  const maxBytes = parseInt(form.dataset.maxBytes, 10);
  const maxArchiveBytes = parseInt(form.dataset.maxArchiveBytes || form.dataset.maxBytes, 10);
  const csrf = form.querySelector('input[name="csrf_token"]').value;
  const waiting = [];
  const running = new Set();
  const rate = new Rate();
  const totals = { files: 0, done: 0, bytes: 0, doneBytes: 0, lastSent: 0, shownAt: 0 };
  let paused = false;

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
    ui.button?.remove();
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

  // --- the overall line -------------------------------------------------------------
  const overall = summary?.querySelector("progress");
  const overallText = summary?.querySelector("[data-upload-totals]");
  const pauseButton = summary?.querySelector("[data-upload-pause]");

  function sentNow() {
    let sent = totals.doneBytes;
    for (const job of running) sent += job.upload.sent;
    return sent;
  }

  // Every file being sent is paused, one by one or all at once.
  function allPaused() {
    return paused || (running.size > 0 && [...running].every((job) => job.paused));
  }

  function showTotals() {
    if (!summary) return;
    summary.hidden = totals.files === 0;
    const now = performance.now();
    totals.shownAt = now;
    const sent = Math.min(sentNow(), totals.bytes);
    rate.add(Math.max(0, sent - totals.lastSent), now);
    totals.lastSent = sent;
    overall.max = Math.max(totals.bytes, 1);
    overall.value = sent;
    const speed = rate.perSecond(now);
    const left = timeLeft(totals.bytes - sent, speed);
    const parts = [
      t("upload_files_done", { done: totals.done, total: totals.files }),
      t("upload_bytes_sent", { sent: fileSize(sent), total: fileSize(totals.bytes) }),
    ];
    if (allPaused()) parts.push(t("upload_paused"));
    else if (running.size && !navigator.onLine) parts.push(t("upload_offline_all"));
    else if (running.size && speed > 0) {
      parts.push(t("upload_speed", { speed: fileSize(speed) }));
      if (left !== null) parts.push(t("upload_time_left", { time: clock(left) }));
    }
    overallText.textContent = parts.join(" · ");
    pauseButton.hidden = totals.done >= totals.files;
    pauseButton.textContent = allPaused() ? t("upload_resume") : t("upload_pause");
  }
  setInterval(() => {
    if (running.size || paused) showTotals();
  }, 1000);

  // A file's progress as the sentence next to its bar: "12 MB of 30 MB" in `key`'s words.
  function progressText(key, job, extra = {}) {
    return t(key, { sent: fileSize(job.upload.sent), total: fileSize(job.file.size), ...extra });
  }

  function showPauseButton(job) {
    const { button } = job.ui;
    button.textContent = job.paused ? t("upload_resume") : t("upload_pause");
    button.setAttribute("aria-label", t(job.paused ? "upload_resume_file" : "upload_pause_file", { name: job.path }));
  }

  function setPaused(job, on) {
    if (job.paused === on) return;
    job.paused = on;
    if (on) {
      job.upload.pause();
      job.ui.message.textContent = progressText("upload_paused_at", job);
    } else job.upload.resume();
    showPauseButton(job);
  }

  pauseButton?.addEventListener("click", () => {
    paused = !allPaused();
    for (const job of running) setPaused(job, paused);
    if (!paused) pump();
    showTotals();
  });
  // Back online: the uploads waiting to try again go at once.
  window.addEventListener("online", () => {
    for (const job of running) job.upload.wake();
    showTotals();
  });
  // Offline: the uploads waiting to try again learn it at once, and say so.
  window.addEventListener("offline", () => {
    for (const job of running) job.upload.wake();
    if (running.size) showTotals();
  });

  // --- sending ------------------------------------------------------------------
  async function send(job) {
    const { ui, file } = job;
    running.add(job);
    job.paused = false;
    ui.item.className = "upload-item status-uploading";
    ui.message.textContent = t("upload_sending");
    // Its own pause button: a paused file gives its turn to the next one waiting.
    ui.button = document.createElement("button");
    ui.button.type = "button";
    ui.button.className = "button upload-pause-one";
    ui.item.insertBefore(ui.button, ui.message);
    ui.button.addEventListener("click", () => {
      setPaused(job, !job.paused);
      if (job.paused) pump();
      showTotals();
    });
    const upload = new ResumableUpload({
      file,
      path: job.path,
      endpoint: url("resumable"),
      csrf,
      transport: xhrTransport,
      store: storage(),
    });
    job.upload = upload;
    showPauseButton(job);
    const fileRate = new Rate();
    let lastSent = 0;
    upload.onprogress = () => {
      const now = performance.now();
      if (now - totals.shownAt > 250) showTotals();
      fileRate.add(Math.max(0, upload.sent - lastSent), now);
      lastSent = upload.sent;
      ui.bar.value = Math.round((upload.sent / Math.max(file.size, 1)) * 100);
      if (upload.sent >= file.size) {
        ui.message.textContent = t("upload_reading");
        return;
      }
      const parts = [progressText("upload_bytes_sent", job)];
      const speed = fileRate.perSecond(now);
      const left = timeLeft(file.size - upload.sent, speed);
      if (speed > 0) parts.push(t("upload_speed", { speed: fileSize(speed) }));
      if (left !== null) parts.push(t("upload_time_left", { time: clock(left) }));
      ui.message.textContent = parts.join(" · ");
    };
    upload.onretry = (_, delay) => {
      ui.message.textContent = progressText("upload_retrying", job, { seconds: Math.round(delay / 1000) });
    };
    upload.onoffline = () => {
      ui.message.textContent = progressText("upload_offline", job);
    };
    try {
      const result = await upload.run();
      finish(ui, result.status, describe(result), result.url || (result.track ? result.track.url : null));
    } catch (error) {
      const message = (() => {
        try {
          return JSON.parse(error.body).message;
        } catch {
          return null;
        }
      })();
      if (message) finish(ui, "rejected", t("upload_rejected", { message }));
      else if (error.status) finish(ui, "rejected", t("upload_server_status", { status: error.status }));
      else finish(ui, "rejected", t("upload_connection_lost"));
    }
    running.delete(job);
    totals.done += 1;
    totals.doneBytes += file.size;
    showTotals();
    pump();
  }

  function pump() {
    const sending = () => [...running].filter((job) => !job.paused).length;
    while (!paused && sending() < AT_ONCE && waiting.length) send(waiting.shift());
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
      totals.files += 1;
      totals.bytes += file.size;
      waiting.push({ file, path, ui });
    }
    showTotals();
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
