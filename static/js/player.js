// The player: a queue, two <audio> elements (the second preloads the next
// track), Media Session, keyboard shortcuts and listen reporting. It lives in
// #player, outside #content; navigation swaps only #content (htmx), so the
// music keeps playing. Queue, position and settings survive a reload.
(function () {
  "use strict";

  var KEY = "musiccloud.player.";
  var bar, audios, active, preloader, ui = {}, state, listened = 0, reported = false, lastTime = null;

  function $(sel, root) { return (root || document).querySelector(sel); }
  function setIcon(button, name) {
    var use = button.querySelector("use");
    if (use) use.setAttribute("href", bar.dataset.icons + "#" + name);
  }
  function iconButton(name, label) {
    var b = document.createElement("button");
    b.type = "button"; b.className = "icon-button small";
    b.setAttribute("aria-label", label);
    b.innerHTML = '<svg class="icon" aria-hidden="true" focusable="false"><use></use></svg>';
    b.querySelector("use").setAttribute("href", bar.dataset.icons + "#" + name);
    return b;
  }
  function fmt(seconds) {
    if (!isFinite(seconds) || seconds < 0) seconds = 0;
    var s = Math.floor(seconds % 60), m = Math.floor(seconds / 60) % 60, h = Math.floor(seconds / 3600);
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  // --- state and storage -------------------------------------------------------
  function load() {
    var user = bar.dataset.user;
    var saved = null;
    try { saved = JSON.parse(localStorage.getItem(KEY + "state") || "null"); } catch (e) { saved = null; }
    if (!saved || saved.user !== user) saved = null;
    return Object.assign({ user: user, queue: [], order: [], pos: -1, time: 0, volume: 1, muted: false,
      shuffle: false, repeat: "off", playing: false }, saved || {});
  }
  var saveTimer = null;
  function save(now) {
    state.time = active ? active.currentTime : state.time;
    var write = function () {
      try { localStorage.setItem(KEY + "state", JSON.stringify(state)); } catch (e) { /* full or private mode */ }
    };
    if (now) { write(); return; }
    if (!saveTimer) saveTimer = setTimeout(function () { saveTimer = null; write(); }, 1000);
  }

  function current() { return state.pos >= 0 ? state.queue[state.order[state.pos]] : null; }
  function upcoming() {
    if (state.repeat === "one") return current();
    var next = state.pos + 1;
    if (next >= state.order.length) {
      if (state.repeat !== "all" || !state.order.length) return null;
      next = 0;
    }
    return state.queue[state.order[next]];
  }

  function makeOrder(keepIndex) {
    var order = state.queue.map(function (_, i) { return i; });
    if (state.shuffle) {
      for (var i = order.length - 1; i > 0; i--) {
        var j = Math.floor(Math.random() * (i + 1));
        var t = order[i]; order[i] = order[j]; order[j] = t;
      }
      if (keepIndex !== undefined && keepIndex >= 0) {
        order.splice(order.indexOf(keepIndex), 1);
        order.unshift(keepIndex);
      }
    }
    state.order = order;
    state.pos = keepIndex !== undefined && keepIndex >= 0 ? order.indexOf(keepIndex) : -1;
  }

  // --- playback ------------------------------------------------------------------
  function load_track(track, startAt, autoplay) {
    var other = audios[0] === active ? audios[1] : audios[0];
    var next = active;
    if (preloader && preloader.dataset.trackId === String(track.id)) {
      // The next track is already buffering in the other element: switch to it.
      next = preloader;
      active.pause();
      active.removeAttribute("src");
      active.load();
    } else {
      active.pause();
      next.src = track.stream;
      next.dataset.trackId = String(track.id);
      other.removeAttribute("src");
      other.dataset.trackId = "";
    }
    active = next;
    preloader = null;
    active.volume = state.volume;
    active.muted = state.muted;
    listened = 0;
    reported = false;
    lastTime = null;
    if (startAt) {
      var seekTo = function () { active.currentTime = startAt; active.removeEventListener("loadedmetadata", seekTo); };
      if (active.readyState >= 1) seekTo(); else active.addEventListener("loadedmetadata", seekTo);
    }
    showTrack(track);
    if (autoplay) play();
    save(true);
  }

  function play() {
    if (!current()) return;
    var p = active.play();
    if (p && p.catch) p.catch(function () { /* autoplay refused until the user acts */ render(); });
  }
  function pause() { active.pause(); }
  function toggle() { if (!current()) return; if (active.paused) play(); else pause(); }

  function go(pos, autoplay) {
    if (pos < 0 || pos >= state.order.length) return;
    state.pos = pos;
    load_track(current(), 0, autoplay !== false);
    renderQueue();
  }
  function next(auto) {
    if (!state.order.length) return;
    if (auto && state.repeat === "one") { active.currentTime = 0; play(); return; }
    var pos = state.pos + 1;
    if (pos >= state.order.length) {
      if (state.repeat === "all") pos = 0;
      else { if (auto) { state.playing = false; save(true); render(); } return; }
    }
    go(pos, true);
  }
  function prev() {
    if (!state.order.length) return;
    if (active.currentTime > 3 || state.pos === 0) { active.currentTime = 0; return; }
    go(state.pos - 1, true);
  }
  function seekBy(delta) {
    if (!current()) return;
    var d = active.duration || current().duration || 0;
    active.currentTime = Math.max(0, Math.min(d - 0.25, active.currentTime + delta));
  }

  // --- queue operations (used by the pages) ---------------------------------------
  function playList(tracks, start, shuffle) {
    if (!tracks.length) return;
    state.queue = tracks.slice();
    if (shuffle !== undefined) state.shuffle = !!shuffle;
    makeOrder(shuffle && start === undefined ? Math.floor(Math.random() * tracks.length) : (start || 0));
    go(state.pos, true);
    render();
  }
  function insertNext(track) {
    if (!current()) { playList([track], 0); return; }
    state.queue.push(track);
    state.order.splice(state.pos + 1, 0, state.queue.length - 1);
    preloader = null;
    renderQueue(); save(true); flash("“" + track.title + "” plays next");
  }
  function append(track) {
    if (!current()) { playList([track], 0); return; }
    state.queue.push(track);
    state.order.push(state.queue.length - 1);
    renderQueue(); save(true); flash("“" + track.title + "” added to the queue");
  }
  function removeAt(pos) {
    var wasCurrent = pos === state.pos;
    var qi = state.order[pos];
    state.order.splice(pos, 1);
    state.queue.splice(qi, 1);
    state.order = state.order.map(function (i) { return i > qi ? i - 1 : i; });
    if (pos < state.pos) state.pos -= 1;
    if (!state.order.length) { clearQueue(); return; }
    if (wasCurrent) { state.pos = Math.min(state.pos, state.order.length - 1); load_track(current(), 0, !active.paused); }
    preloader = null;
    renderQueue(); save(true);
  }
  function move(pos, delta) {
    var to = pos + delta;
    if (to < 0 || to >= state.order.length) return;
    var item = state.order.splice(pos, 1)[0];
    state.order.splice(to, 0, item);
    if (state.pos === pos) state.pos = to;
    else if (state.pos === to) state.pos = pos;
    preloader = null;
    renderQueue(); save(true);
    var button = $('.queue-list li:nth-child(' + (to + 1) + ') [data-move="' + delta + '"]', bar);
    if (button) button.focus();
  }
  function clearQueue() {
    pause();
    state.queue = []; state.order = []; state.pos = -1; state.time = 0;
    audios.forEach(function (a) { a.removeAttribute("src"); a.dataset.trackId = ""; a.load(); });
    save(true); render(); renderQueue();
  }

  // --- listens -------------------------------------------------------------------------
  function countListen() {
    var t = active.currentTime;
    if (lastTime !== null && !active.paused) {
      var delta = t - lastTime;
      if (delta > 0 && delta < 1.5) listened += delta; // seeks are jumps, not listening
    }
    lastTime = t;
    var track = current();
    if (!track || reported) return;
    var need = Math.min((active.duration || track.duration) / 2, 240);
    if (listened >= need) {
      reported = true;
      fetch(bar.dataset.playsUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": bar.dataset.csrf },
        body: JSON.stringify({ track_id: track.id }),
        credentials: "same-origin",
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
        var count = $('[data-play-count]');
        if (data && count && location.pathname === track.page) count.textContent = data.play_count;
      }).catch(function () { reported = false; });
    }
  }

  function maybePreload() {
    if (preloader) return;
    var remaining = (active.duration || 0) - active.currentTime;
    var upNext = upcoming();
    if (!upNext || upNext === current() || !(remaining < 20 || active.currentTime > active.duration / 2)) return;
    preloader = audios[0] === active ? audios[1] : audios[0];
    preloader.preload = "auto";
    preloader.src = upNext.stream;
    preloader.dataset.trackId = String(upNext.id);
    preloader.load();
  }

  // --- rendering -----------------------------------------------------------------
  function showTrack(track) {
    bar.hidden = false;
    document.body.classList.add("has-player");
    ui.title.textContent = track.title;
    ui.title.href = track.page;
    ui.artist.textContent = track.artist;
    ui.cover.src = track.cover;
    ui.total.textContent = fmt(track.duration);
    ui.seek.max = String(track.duration || 0);
    if ("mediaSession" in navigator && window.MediaMetadata) {
      navigator.mediaSession.metadata = new MediaMetadata({
        title: track.title, artist: track.artist, album: track.album,
        artwork: [{ src: track.cover, sizes: "320x320", type: "image/jpeg" }],
      });
    }
    refreshHeart(track);
    document.querySelectorAll("tr.now-playing").forEach(function (r) { r.classList.remove("now-playing"); });
    document.querySelectorAll('tr[data-track-id="' + track.id + '"]').forEach(function (r) { r.classList.add("now-playing"); });
  }

  function render() {
    var playing = active && !active.paused;
    setIcon(ui.toggle, playing ? "pause" : "play");
    ui.toggle.setAttribute("aria-label", playing ? "Pause" : "Play");
    ui.shuffle.setAttribute("aria-pressed", String(state.shuffle));
    ui.repeat.dataset.mode = state.repeat;
    setIcon(ui.repeat, state.repeat === "one" ? "repeat-one" : "repeat");
    ui.repeat.setAttribute("aria-label", "Repeat: " + ({ off: "off", all: "all", one: "one track" })[state.repeat]);
    ui.repeat.setAttribute("aria-pressed", String(state.repeat !== "off"));
    ui.mute.setAttribute("aria-pressed", String(state.muted));
    setIcon(ui.mute, state.muted || state.volume === 0 ? "mute" : "volume");
    ui.mute.setAttribute("aria-label", state.muted ? "Unmute" : "Mute");
    ui.volume.value = String(state.volume);
    if (!current()) {
      bar.hidden = true;
      document.body.classList.remove("has-player");
    }
    if ("mediaSession" in navigator) navigator.mediaSession.playbackState = playing ? "playing" : "paused";
  }

  function renderTime() {
    var t = active.currentTime, d = active.duration || (current() && current().duration) || 0;
    ui.elapsed.textContent = fmt(t);
    ui.total.textContent = fmt(d);
    if (document.activeElement !== ui.seek) { ui.seek.max = String(d); ui.seek.value = String(t); }
    if ("mediaSession" in navigator && navigator.mediaSession.setPositionState && d && t <= d) {
      try { navigator.mediaSession.setPositionState({ duration: d, position: t, playbackRate: active.playbackRate }); } catch (e) { /* ignore */ }
    }
  }

  function renderQueue() {
    var list = $(".queue-list", bar);
    list.textContent = "";
    state.order.forEach(function (qi, pos) {
      var track = state.queue[qi];
      var li = document.createElement("li");
      if (pos === state.pos) { li.className = "current"; li.setAttribute("aria-current", "true"); }
      var playBtn = document.createElement("button");
      playBtn.type = "button"; playBtn.className = "queue-track";
      playBtn.dataset.go = String(pos);
      var title = document.createElement("strong"); title.textContent = track.title;
      var artist = document.createElement("span"); artist.textContent = track.artist;
      playBtn.append(title, artist);
      li.appendChild(playBtn);
      [["-1", "up", "Move up"], ["1", "down", "Move down"], ["x", "close", "Remove"]].forEach(function (spec) {
        var b = iconButton(spec[1], spec[2] + ": " + track.title);
        if (spec[0] === "x") b.dataset.remove = String(pos); else b.dataset.move = spec[0];
        b.dataset.pos = String(pos);
        li.appendChild(b);
      });
      list.appendChild(li);
    });
  }

  // --- favourites ------------------------------------------------------------------------
  function favouriteUrl(trackId) { return "/favourites/" + trackId; }
  function refreshHeart(track) {
    fetch("/api/tracks/" + track.id, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data && current() && current().id === track.id) showHeart(ui.heart, !!data.favourite); })
      .catch(function () { /* offline: leave the heart as it is */ });
  }
  function showHeart(button, on) {
    button.setAttribute("aria-pressed", String(on));
    setIcon(button, on ? "heart-filled" : "heart");
  }
  function toggleFavourite(trackId) {
    return fetch(favouriteUrl(trackId), {
      method: "POST", credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": bar.dataset.csrf },
    }).then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); }).then(function (data) {
      document.querySelectorAll('form[data-favourite-form][action="' + favouriteUrl(trackId) + '"] button').forEach(function (b) {
        showHeart(b, data.favourite);
      });
      if (current() && current().id === trackId) showHeart(ui.heart, data.favourite);
      return data.favourite;
    });
  }
  function onSubmit(e) {
    var form = e.target.closest("form[data-favourite-form]");
    if (!form) return;
    // Capture phase: handled here, htmx never sees it.
    e.preventDefault();
    e.stopPropagation();
    toggleFavourite(parseInt(form.action.split("/").pop(), 10)).catch(function () { form.submit(); });
  }

  // --- playlists: drag to reorder, copy the share link -----------------------------------------
  function initReorder() {
    var table = document.querySelector("table.playlist-entries[data-reorder-url]");
    if (!table || table.dataset.reorderReady) return;
    table.dataset.reorderReady = "1";
    var body = table.tBodies[0], dragging = null, from = 0;
    table.addEventListener("dragstart", function (e) {
      dragging = e.target.closest("tr[data-entry-id]");
      if (!dragging) return;
      from = Array.prototype.indexOf.call(body.rows, dragging) + 1;
      e.dataTransfer.effectAllowed = "move";
      e.dataTransfer.setData("text/plain", dragging.dataset.entryId);
      dragging.classList.add("dragging");
    });
    table.addEventListener("dragover", function (e) {
      if (!dragging) return;
      e.preventDefault();
      var row = e.target.closest("tr[data-entry-id]");
      if (!row || row === dragging) return;
      var box = row.getBoundingClientRect();
      body.insertBefore(dragging, e.clientY > box.top + box.height / 2 ? row.nextSibling : row);
    });
    table.addEventListener("drop", function (e) { if (dragging) e.preventDefault(); });
    table.addEventListener("dragend", function () {
      if (!dragging) return;
      var row = dragging, to = Array.prototype.indexOf.call(body.rows, row) + 1;
      row.classList.remove("dragging");
      dragging = null;
      if (to === from) return;
      var data = new FormData();
      data.append("csrf_token", table.dataset.csrf);
      data.append("entry", row.dataset.entryId);
      data.append("position", String(to));
      fetch(table.dataset.reorderUrl, { method: "POST", body: data, credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); })
        .then(function () { htmx.ajax("GET", location.pathname + location.search, { target: "#content", select: "#content", swap: "outerHTML" }); })
        .catch(function () { location.reload(); });
    });
  }
  function onCopy(e) {
    var b = e.target.closest("[data-copy]");
    if (!b) return;
    var input = document.querySelector(b.dataset.copy);
    input.select();
    var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 2000); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done);
    else { document.execCommand("copy"); done(); }
  }

  var flashTimer = null;
  function flash(text) {
    var el = $(".player-toast", bar);
    if (!el) { el = document.createElement("p"); el.className = "player-toast"; el.setAttribute("role", "status"); bar.appendChild(el); }
    el.textContent = text;
    el.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(function () { el.hidden = true; }, 2500);
  }

  // --- wiring ------------------------------------------------------------------------
  function rowTracks(row) {
    var body = row.closest("tbody") || row.parentNode;
    return Array.prototype.map.call(body.querySelectorAll("tr[data-track]"), function (r) { return JSON.parse(r.dataset.track); });
  }

  function onPageClick(e) {
    var target = e.target.closest("[data-play-row], [data-play-next], [data-add-queue], [data-play-track], [data-play-next-track], [data-play-all]");
    if (!target) return;
    e.preventDefault();
    if (target.hasAttribute("data-play-track")) { playList([JSON.parse(target.dataset.playTrack)], 0); return; }
    if (target.hasAttribute("data-play-next-track")) { insertNext(JSON.parse(target.dataset.playNextTrack)); return; }
    if (target.hasAttribute("data-play-all")) {
      var rows = document.querySelectorAll("#content tr[data-track]");
      var tracks = Array.prototype.map.call(rows, function (r) { return JSON.parse(r.dataset.track); });
      if (target.dataset.playAll === "shuffle") playList(tracks, undefined, true); else playList(tracks, 0, false);
      return;
    }
    var row = target.closest("tr[data-track]");
    var track = JSON.parse(row.dataset.track);
    if (target.hasAttribute("data-play-row")) {
      // The whole list on the page, from this row on (the same track may appear twice).
      var rowsInBody = Array.prototype.slice.call((row.closest("tbody") || row.parentNode).querySelectorAll("tr[data-track]"));
      playList(rowTracks(row), Math.max(0, rowsInBody.indexOf(row)), state.shuffle);
    } else if (target.hasAttribute("data-play-next")) insertNext(track);
    else append(track);
  }

  function onBarClick(e) {
    var b = e.target.closest("button");
    if (!b) return;
    if (b.dataset.go !== undefined) { go(parseInt(b.dataset.go, 10), true); return; }
    if (b.dataset.move !== undefined) { move(parseInt(b.dataset.pos, 10), parseInt(b.dataset.move, 10)); return; }
    if (b.dataset.remove !== undefined) { removeAt(parseInt(b.dataset.remove, 10)); return; }
    switch (b.dataset.action) {
      case "toggle": toggle(); break;
      case "prev": prev(); break;
      case "next": next(false); break;
      case "shuffle":
        state.shuffle = !state.shuffle;
        var qi = state.order[state.pos];
        makeOrder(qi);
        preloader = null; renderQueue(); render(); save(true);
        break;
      case "repeat":
        state.repeat = ({ off: "all", all: "one", one: "off" })[state.repeat];
        preloader = null; render(); save(true);
        break;
      case "mute": state.muted = !state.muted; active.muted = state.muted; render(); save(true); break;
      case "queue":
        var panel = $("#queue-panel");
        panel.hidden = !panel.hidden;
        b.setAttribute("aria-expanded", String(!panel.hidden));
        b.setAttribute("aria-label", panel.hidden ? "Show queue" : "Hide queue");
        break;
      case "clear": clearQueue(); break;
      case "help": $(".help-dialog", bar).showModal(); break;
      case "favourite": if (current()) toggleFavourite(current().id); break;
    }
  }

  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) && t.type !== "range")) return;
    if (t && t.tagName === "BUTTON" && (e.key === " " || e.key === "Enter")) return;
    if (e.key === " ") { if (current()) { e.preventDefault(); toggle(); } }
    else if (e.key === "ArrowLeft" && current()) { e.preventDefault(); if (e.shiftKey) prev(); else seekBy(-10); }
    else if (e.key === "ArrowRight" && current()) { e.preventDefault(); if (e.shiftKey) next(false); else seekBy(10); }
    else if (e.key === "m" || e.key === "M") { state.muted = !state.muted; active.muted = state.muted; render(); save(true); }
    else if (e.key === "?") { var d = $(".help-dialog", bar); if (!d.open) d.showModal(); }
  }

  function bindAudio(a) {
    a.addEventListener("timeupdate", function () { if (a !== active) return; renderTime(); countListen(); maybePreload(); save(); });
    a.addEventListener("play", function () { if (a !== active) return; state.playing = true; render(); save(true); });
    a.addEventListener("pause", function () { if (a !== active) return; state.playing = false; lastTime = null; render(); save(true); });
    a.addEventListener("ended", function () { if (a !== active) return; next(true); });
    a.addEventListener("loadedmetadata", function () { if (a === active) renderTime(); });
    a.addEventListener("volumechange", function () { if (a === active) render(); });
  }

  function markNav() {
    // The menu entry whose address is the longest prefix of this page's.
    var best = null;
    document.querySelectorAll(".site-nav a").forEach(function (a) {
      a.removeAttribute("aria-current");
      var p = new URL(a.href).pathname;
      if ((location.pathname === p || location.pathname.indexOf(p.replace(/\/$/, "") + "/") === 0) && (!best || p.length > new URL(best.href).pathname.length)) best = a;
    });
    if (best) best.setAttribute("aria-current", "page");
    var track = current();
    if (track) document.querySelectorAll('tr[data-track-id="' + track.id + '"]').forEach(function (r) { r.classList.add("now-playing"); });
    initReorder();
  }

  function init() {
    bar = document.getElementById("player");
    if (!bar) return;
    audios = [document.getElementById("player-audio-a"), document.getElementById("player-audio-b")];
    active = audios[0];
    ui = {
      title: $(".player-title", bar), artist: $(".player-artist", bar), cover: $(".player-cover", bar),
      toggle: $('[data-action="toggle"]', bar), shuffle: $('[data-action="shuffle"]', bar),
      repeat: $('[data-action="repeat"]', bar), mute: $('[data-action="mute"]', bar),
      seek: $(".seek", bar), volume: $(".volume", bar), elapsed: $("[data-elapsed]", bar), total: $("[data-total]", bar),
      heart: $('[data-action="favourite"]', bar),
    };
    state = load();
    audios.forEach(bindAudio);
    bar.addEventListener("click", onBarClick);
    document.addEventListener("click", onPageClick);
    document.addEventListener("keydown", onKey);
    document.addEventListener("submit", onSubmit, true);
    document.addEventListener("click", onCopy);
    initReorder();
    ui.seek.addEventListener("input", function () { if (current()) active.currentTime = parseFloat(ui.seek.value); });
    ui.volume.addEventListener("input", function () {
      state.volume = parseFloat(ui.volume.value); active.volume = state.volume;
      if (state.volume > 0 && state.muted) { state.muted = false; active.muted = false; }
      render(); save();
    });
    if ("mediaSession" in navigator) {
      var ms = navigator.mediaSession;
      var handlers = {
        play: play, pause: pause, previoustrack: prev, nexttrack: function () { next(false); },
        seekbackward: function (d) { seekBy(-(d.seekOffset || 10)); },
        seekforward: function (d) { seekBy(d.seekOffset || 10); },
        seekto: function (d) { if (current()) active.currentTime = d.seekTime; },
      };
      Object.keys(handlers).forEach(function (k) { try { ms.setActionHandler(k, handlers[k]); } catch (e) { /* unsupported */ } });
    }
    window.addEventListener("pagehide", function () { save(true); });

    // Back and forward: fetch the page and swap #content, as a click would.
    document.body.addEventListener("htmx:historyCacheMiss", function (e) {
      e.preventDefault();
      htmx.ajax("GET", e.detail.path, { target: "#content", select: "#content", swap: "outerHTML" }).then(markNav);
    });
    document.body.addEventListener("htmx:afterSettle", markNav);

    if (current()) {
      load_track(current(), state.time, false);
      renderQueue();
      if (state.playing) play(); // browsers may refuse until the user acts
    }
    render();
    window.musicCloudPlayer = { playList: playList, insertNext: insertNext, append: append, state: function () { return state; } };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
