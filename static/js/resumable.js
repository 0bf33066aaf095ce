// Resumable uploads with the tus 1.0.0 protocol (the server: app/uploads/routes.py).
// A file goes up in pieces; after a dropped connection the upload asks the
// server how much arrived (HEAD) and goes on from there, waiting longer
// between each try (1 s, 2 s, 4 s ... 30 s). Its address is kept in
// localStorage, so choosing the same file again after a reload, or after the
// laptop slept, resumes it too. While the browser knows it is offline no try
// is spent: the upload waits for the connection to come back, however long
// that takes. The network is a `transport` (XMLHttpRequest in the browser, a
// fake server in the unit tests).

export const PIECE = 8 * 1024 * 1024; // bytes per PATCH
export const MAX_TRIES = 12; // failed tries in a row before giving up
const KEY_PREFIX = "mc-upload:";

// Milliseconds to wait before try number `attempt` (1, 2, ...).
export function backoff(attempt) {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

// Bytes per second over the last few seconds (a sliding window of samples).
export class Rate {
  constructor(windowMs = 5000) {
    this.windowMs = windowMs;
    this.samples = [];
  }

  add(bytes, now) {
    this.samples.push([now, bytes]);
    while (this.samples.length > 2 && now - this.samples[0][0] > this.windowMs) this.samples.shift();
  }

  perSecond(now) {
    if (this.samples.length === 0) return 0;
    const since = Math.max(this.samples[0][0], now - this.windowMs);
    const sent = this.samples.filter(([at]) => at >= since).reduce((sum, [, bytes]) => sum + bytes, 0);
    const seconds = Math.max((now - since) / 1000, 0.5);
    return sent / seconds;
  }
}

// Seconds left for `remaining` bytes at `rate` bytes per second (null: unknown).
export function timeLeft(remaining, rate) {
  if (!(rate > 0)) return null;
  return Math.ceil(remaining / rate);
}

export class HttpError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function base64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("wake", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

// Whether trying again may help: the network, the server busy or restarting.
function transient(error) {
  return !(error instanceof HttpError) || [0, 409, 423, 429, 500, 502, 503, 504].includes(error.status);
}

// Whether the request never reached a server (no answer at all).
function unanswered(error) {
  return !(error instanceof HttpError) || error.status === 0;
}

// navigator.onLine is false only when the device has no network at all (true may be wrong).
function browserOnline() {
  return globalThis.navigator?.onLine ?? true;
}

export class ResumableUpload {
  // file: a File or Blob with name/size/lastModified; path: its name, or its path in a folder.
  constructor({ file, path, endpoint, csrf, transport, store = null, piece = PIECE, wait = sleep, online = browserOnline }) {
    this.file = file;
    this.path = path;
    this.endpoint = endpoint;
    this.csrf = csrf;
    this.transport = transport;
    this.store = store;
    this.piece = piece;
    this.wait = wait;
    this.online = online;
    this.offset = 0;
    this.sending = 0; // bytes of the piece in flight that have left
    this.paused = false;
    this.tries = 0;
    this.waker = new EventTarget();
    this.onprogress = () => {};
    this.onretry = () => {};
    this.onoffline = () => {};
    this.current = null;
  }

  get key() {
    return `${KEY_PREFIX}${this.path}:${this.file.size}:${this.file.lastModified || 0}`;
  }

  get sent() {
    return this.offset + this.sending;
  }

  headers(extra = {}) {
    return { "Tus-Resumable": "1.0.0", "X-CSRFToken": this.csrf, ...extra };
  }

  pause() {
    this.paused = true;
    this.current?.abort();
  }

  resume() {
    this.paused = false;
    this.waker.dispatchEvent(new Event("wake"));
  }

  // Try again now (the browser is back online) rather than at the end of the wait.
  wake() {
    this.waker.dispatchEvent(new Event("wake"));
  }

  async request(method, url, headers, body = null, onProgress = null) {
    const call = this.transport(method, url, { headers, body, onProgress });
    this.current = call;
    try {
      const response = await call.done;
      if (response.status >= 400 || response.status === 0) throw new HttpError(response.status, response.body);
      return response;
    } finally {
      this.current = null;
    }
  }

  async locate() {
    const known = this.store?.getItem(this.key);
    if (known) {
      try {
        const head = await this.request("HEAD", known, this.headers());
        this.offset = parseInt(head.header("Upload-Offset"), 10) || 0;
        this.sending = 0;
        return known;
      } catch (error) {
        if (transient(error)) throw error;
        this.store?.removeItem(this.key); // expired or gone: start again
      }
    }
    const created = await this.request(
      "POST",
      this.endpoint,
      this.headers({ "Upload-Length": String(this.file.size), "Upload-Metadata": `filename ${base64(this.path)}` }),
    );
    const url = created.header("Location");
    this.store?.setItem(this.key, url);
    this.offset = 0;
    this.sending = 0;
    return url;
  }

  async untilResumed() {
    while (this.paused) await this.wait(60_000, this.waker);
  }

  async ask(url) {
    const head = await this.request("HEAD", url, this.headers());
    this.offset = parseInt(head.header("Upload-Offset"), 10) || 0;
    this.sending = 0;
  }

  // Send the whole file; resolves with the server's result for it (the upload API's shape).
  async run() {
    let url = null;
    for (;;) {
      await this.untilResumed();
      try {
        // After any interruption, the server says where to go on from.
        if (url === null) url = await this.locate();
        else await this.ask(url);
        while (this.offset < this.file.size) {
          await this.untilResumed();
          const end = Math.min(this.offset + this.piece, this.file.size);
          const answer = await this.request(
            "PATCH",
            url,
            this.headers({ "Upload-Offset": String(this.offset), "Content-Type": "application/offset+octet-stream" }),
            this.file.slice(this.offset, end),
            (loaded) => {
              this.sending = loaded;
              this.onprogress(this);
            },
          );
          this.sending = 0;
          this.offset = parseInt(answer.header("Upload-Offset"), 10);
          this.tries = 0;
          this.onprogress(this);
        }
        const done = await this.request("GET", url, this.headers({ Accept: "application/json" }));
        const { result } = JSON.parse(done.body);
        // Every byte there, the file not added yet (another request of it still adding it):
        // ask again soon, as for a piece still being saved.
        if (!result) throw new HttpError(409, done.body);
        this.store?.removeItem(this.key);
        return result;
      } catch (error) {
        // `sending` stays as it was (what the page shows) until the server says what it holds.
        if (this.paused) continue;
        if (unanswered(error) && !this.online()) {
          // Offline: no try is spent; the page wakes the upload when the browser is back
          // online (the wait is short in case that happened before the wait began).
          this.onoffline(this);
          while (!this.online() && !this.paused) await this.wait(5000, this.waker);
          continue;
        }
        this.tries += 1;
        if (this.tries >= MAX_TRIES) throw error;
        if (error instanceof HttpError && error.status === 404 && url !== null) {
          // Expired or dropped on the server: start this file again.
          this.store?.removeItem(this.key);
          url = null;
          continue;
        }
        if (!transient(error)) throw error;
        if (error.status === 409) {
          // Another offset, or the server still saving the piece that broke off: ask again soon.
          await this.wait(250 * this.tries, this.waker);
          continue;
        }
        const delay = backoff(this.tries);
        this.onretry(this, delay);
        await this.wait(delay, this.waker);
      }
    }
  }
}

// The browser's transport: XMLHttpRequest, for its upload progress events.
export function xhrTransport(method, url, { headers, body, onProgress }) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve) => {
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    if (onProgress) xhr.upload.onprogress = (event) => onProgress(event.loaded);
    const finish = () =>
      resolve({ status: xhr.status, body: xhr.responseText, header: (name) => xhr.getResponseHeader(name) });
    xhr.onload = finish;
    xhr.onerror = finish; // status 0: the network
    xhr.onabort = finish;
    xhr.ontimeout = finish;
    xhr.send(body);
  });
  return { done, abort: () => xhr.abort() };
}
