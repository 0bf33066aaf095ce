// Upload page: each file goes up in its own request, with its own progress bar
// and result. Without JavaScript the form posts every file at once instead.
(function () {
  "use strict";

  function formatBytes(n) {
    if (n >= 1e9) return (n / 1e9).toFixed(1) + " GB";
    if (n >= 1e6) return Math.round(n / 1e6) + " MB";
    return (n / 1e3).toFixed(0) + " KB";
  }

  function init(form) {
    if (form.dataset.enhanced) return;
    form.dataset.enhanced = "1";
    var input = form.querySelector('input[type="file"]');
    var list = form.parentNode.querySelector("[data-upload-list]");
    var zone = form.querySelector("[data-dropzone]");
    var maxBytes = parseInt(form.dataset.maxBytes, 10);
    var csrf = form.querySelector('input[name="csrf_token"]').value;
    var queue = [];
    var active = 0;
    var LIMIT = 2; // files uploading at the same time

    function row(file) {
      var li = document.createElement("li");
      li.className = "upload-item status-waiting";
      var name = document.createElement("span");
      name.className = "upload-name";
      name.textContent = file.name;
      var bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", "Upload progress of " + file.name);
      var msg = document.createElement("span");
      msg.className = "upload-message";
      msg.textContent = "Waiting";
      li.append(name, bar, msg);
      list.appendChild(li);
      return { li: li, bar: bar, msg: msg };
    }

    function finish(ui, status, text, url) {
      ui.li.className = "upload-item status-" + status;
      ui.bar.value = 100;
      ui.msg.textContent = text;
      if (url) {
        ui.msg.textContent = "";
        var a = document.createElement("a");
        a.href = url;
        a.textContent = text;
        ui.msg.appendChild(a);
      }
    }

    function describe(result) {
      if (result.status === "added") {
        var t = result.track;
        var mins = Math.floor(t.duration / 60), secs = Math.round(t.duration % 60);
        if (secs === 60) { mins += 1; secs = 0; }
        return "Added: " + t.title + " by " + t.artist + " (" + mins + ":" + String(secs).padStart(2, "0") + ")";
      }
      if (result.status === "duplicate") return "Already in your library" + (result.track ? ": " + result.track.title : "");
      return "Rejected: " + result.message;
    }

    function send(item) {
      active += 1;
      var ui = item.ui;
      ui.li.className = "upload-item status-uploading";
      ui.msg.textContent = "Uploading";
      var data = new FormData();
      data.append("csrf_token", csrf);
      data.append("files", item.file, item.file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.uploadUrl);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) {
          ui.bar.value = Math.round((e.loaded / e.total) * 100);
          if (e.loaded === e.total) ui.msg.textContent = "Reading tags";
        }
      };
      xhr.onload = function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
        if (xhr.status === 200 && body && body.results && body.results.length) {
          var r = body.results[0];
          finish(ui, r.status, describe(r), r.track ? r.track.url : null);
        } else if (body && body.message) {
          finish(ui, "rejected", "Rejected: " + body.message);
        } else {
          finish(ui, "rejected", "Rejected: the server answered " + xhr.status);
        }
        done();
      };
      xhr.onerror = function () {
        finish(ui, "rejected", "Failed: the connection was lost");
        done();
      };
      xhr.send(data);
    }

    function done() {
      active -= 1;
      pump();
    }

    function pump() {
      while (active < LIMIT && queue.length) send(queue.shift());
    }

    function add(files) {
      Array.prototype.forEach.call(files, function (file) {
        var ui = row(file);
        if (file.size > maxBytes) {
          finish(ui, "rejected", "Rejected: file too large: " + formatBytes(file.size) + ", the limit is " + formatBytes(maxBytes));
          return;
        }
        queue.push({ file: file, ui: ui });
      });
      pump();
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      add(input.files);
      input.value = "";
    });
    input.addEventListener("change", function () {
      add(input.files);
      input.value = "";
    });
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (e) {
        e.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function (e) {
        e.preventDefault();
        zone.classList.remove("dragging");
      });
    });
    zone.addEventListener("drop", function (e) {
      if (e.dataTransfer && e.dataTransfer.files) add(e.dataTransfer.files);
    });
  }

  function boot() {
    document.querySelectorAll("form.upload-form").forEach(init);
  }
  document.addEventListener("DOMContentLoaded", boot);
  document.addEventListener("htmx:load", boot);
})();
