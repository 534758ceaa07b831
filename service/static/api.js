// Calls to this server's REST API: the key header, the error envelope and Server-Timing, in one place.

const KEY_STORAGE = "tinyserve.apiKey";

// The key lives in this tab's sessionStorage only: gone when the tab closes, never in a URL.
export function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function storeKey(key) {
  if (key) {
    sessionStorage.setItem(KEY_STORAGE, key);
  } else {
    sessionStorage.removeItem(KEY_STORAGE);
  }
}

// An answer from the API: the parsed body, or the service's own error message as it came.
export class ApiError extends Error {
  constructor(status, type, message, requestId) {
    super(message);
    this.status = status;
    this.type = type;
    this.requestId = requestId;
  }
}

export async function callApi(path, { method = "GET", json, form } = {}) {
  const headers = { Accept: "application/json" };
  const key = storedKey();
  if (key) {
    headers.Authorization = `Bearer ${key}`;
  }
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser writes the multipart boundary
  }
  const started = performance.now();
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, "network", `the server did not answer (${err.message}); is it still running?`, null);
  }
  const elapsed = performance.now() - started;
  const requestId = response.headers.get("x-request-id");
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const error = payload && payload.error;
    const message = error && error.message ? error.message : `HTTP ${response.status} ${response.statusText}`;
    throw new ApiError(response.status, error ? error.type : "http", message, requestId);
  }
  return {
    body: payload,
    requestId,
    elapsedMs: elapsed,
    timing: parseServerTiming(response.headers.get("server-timing")),
  };
}

// `queue;dur=0.012, preprocess;dur=0.345, inference;dur=0.456, batch_size;desc="1"` -> {queue: 0.012, ...}
export function parseServerTiming(header) {
  const timing = {};
  if (!header) {
    return timing;
  }
  for (const entry of header.split(",")) {
    const [name, ...params] = entry.trim().split(";");
    for (const param of params) {
      const [key, raw = ""] = param.trim().split("=");
      const value = raw.replace(/^"|"$/g, "");
      if (key === "dur") {
        timing[name] = Number(value);
      } else if (key === "desc") {
        timing[name] = value;
      }
    }
  }
  return timing;
}

// Debounced calls with at most one request in flight: a call made meanwhile runs once, after it, with
// the newest input, so a fast hand on the pad never queues a pile of stale predictions.
export class LatestOnly {
  constructor(run, delayMs, onIdle) {
    this.run = run;
    this.delayMs = delayMs;
    this.onIdle = onIdle;
    this.timer = null;
    this.inFlight = false;
    this.again = false;
  }

  get idle() {
    return this.timer === null && !this.inFlight && !this.again;
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fire();
    }, this.delayMs);
  }

  async fire() {
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = true;
    try {
      await this.run();
    } finally {
      this.inFlight = false;
    }
    if (this.again) {
      this.again = false;
      await this.fire();
    } else if (this.idle && this.onIdle) {
      this.onIdle();
    }
  }
}
