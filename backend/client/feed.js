// The reference client of the backend's /ws feed: one ES module, no framework, for browsers and
// for Node (pass the `ws` package's WebSocket). It keeps the last sequence number, reconnects with
// capped exponential backoff and jitter, resumes with ?since=N so nothing is missed or repeated,
// handles each close code the backend sends, reports a gap when the server's replay buffer no
// longer holds what was missed, and replaces a half-open socket found by its own heartbeat.
//
// Its state is published as events (`state`, `message`, `gap`) so a page can say what is going on.
// POLICY is the reconnect policy; the deployment guide prints these numbers from this file.

// policy:begin (JSON: the site reads it)
export const POLICY = Object.freeze({
  "retryBaseMs": 250,
  "retryMaxMs": 8000,
  "drainMaxMs": 1000,
  "fullMinMs": 5000,
  "fullMaxMs": 30000,
  "heartbeatIntervalMs": 5000,
  "heartbeatTimeoutMs": 4000,
  "connectTimeoutMs": 5000
});
// policy:end

export const CLOSE_DRAIN = 1001; // server shutting down: another process takes over soon
export const CLOSE_FULL = 1013; // at capacity: come back later, not now

// The longest wait before retry number `attempt` (0-based) after a close with `code`.
export function ceiling(attempt, code, policy = POLICY) {
  if (code === CLOSE_DRAIN && attempt === 0) return policy.drainMaxMs;
  if (code === CLOSE_FULL) return Math.min(policy.fullMaxMs, policy.fullMinMs * 2 ** attempt);
  return Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** attempt);
}

// The wait before retry number `attempt`. A drain's first retry is jittered over [0, drainMaxMs]
// (full jitter: the whole fleet comes back, spread). Every other retry is jittered over the upper
// half of its ceiling ("equal jitter"): still spread, but with a floor, so attempts during an
// outage have a bound a runbook can state (maxAttempts) instead of a probability.
export function delayFor(attempt, code, random = Math.random, policy = POLICY) {
  const top = ceiling(attempt, code, policy);
  if (code === CLOSE_DRAIN && attempt === 0) return random() * top;
  return top / 2 + random() * (top / 2);
}

// The most connection attempts a client makes during `windowMs` of an outage that began with a
// close `code`: every wait at its floor, every attempt failing at once.
export function maxAttempts(windowMs, code = 1006, policy = POLICY) {
  let elapsed = 0;
  let attempts = 0;
  for (let attempt = 0; attempts < 10000; attempt += 1) {
    const top = ceiling(attempt, code, policy);
    elapsed += code === CLOSE_DRAIN && attempt === 0 ? 0 : top / 2;
    if (elapsed > windowMs) break;
    attempts += 1;
  }
  return attempts;
}

const WORDS = {
  1000: "closed by the server (idle)",
  1001: "server restarting",
  1003: "refused a binary frame",
  1006: "connection lost",
  1008: "dropped by the server (too slow, or a bad since)",
  1009: "message too big",
  1013: "server full",
};

// Why a connection ended, in words, from its close code.
export function describeClose(code) {
  return WORDS[code] || `closed (${code})`;
}

export class Feed extends EventTarget {
  // url: the backend's ws:// or wss:// /ws address. Options: WebSocket (a constructor; Node: `ws`),
  // random (for the jitter), policy, since (the last sequence number already seen), timers.
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.WebSocket = options.WebSocket || globalThis.WebSocket;
    this.random = options.random || Math.random;
    this.policy = options.policy || POLICY;
    this.timers = options.timers || globalThis;
    this.lastSeq = options.since ?? null;
    this.epoch = options.epoch ?? null;  // the numbering lastSeq belongs to, with several instances
    this.counts = { attempts: 0, connects: 0, reconnects: 0, recovered: 0, gaps: 0, missed: 0 };
    this.state = { name: "idle" };
    this._socket = null;
    this._attempt = 0;
    this._lastCode = 1006;
    this._helloSeq = null;
    this._timer = null;
    this._heartbeat = null;
    this._silenceSince = 0;
    this._stopped = true;
  }

  start() {
    this._stopped = false;
    this._connect();
    return this;
  }

  stop() {
    this._stopped = true;
    this._clearTimers();
    this._drop(1000, "client stopped");
    this._setState({ name: "stopped" });
  }

  _setState(state) {
    this.state = { ...state, lastSeq: this.lastSeq, counts: { ...this.counts } };
    this.dispatchEvent(new CustomEvent("state", { detail: this.state }));
  }

  _clearTimers() {
    this.timers.clearTimeout(this._timer);
    this.timers.clearInterval(this._heartbeat);
    this._timer = null;
    this._heartbeat = null;
  }

  _address() {
    if (this.lastSeq === null) return this.url;
    const epoch = this.epoch ? `&epoch=${encodeURIComponent(this.epoch)}` : "";
    return `${this.url}${this.url.includes("?") ? "&" : "?"}since=${this.lastSeq}${epoch}`;
  }

  _connect() {
    if (this._stopped) return;
    this.counts.attempts += 1;
    this._setState({ name: "connecting", attempt: this._attempt });
    let socket;
    try {
      socket = new this.WebSocket(this._address());
    } catch (error) {
      this._retry(1006, String(error));
      return;
    }
    this._socket = socket;
    this._helloSeq = null;
    // a socket that never opens (a partition that swallows packets) is given up, not waited on
    this._timer = this.timers.setTimeout(() => this._lost(socket, 1006, "connect timed out"),
                                         this.policy.connectTimeoutMs);
    socket.onmessage = (event) => this._onMessage(socket, event);
    socket.onclose = (event) => this._lost(socket, event.code || 1006, event.reason || "");
    socket.onerror = () => {};  // the close event follows with the code
  }

  _onMessage(socket, event) {
    if (socket !== this._socket) return;
    this._silenceSince = Date.now();
    let frame;
    try {
      frame = JSON.parse(String(event.data));
    } catch {
      return;
    }
    if (frame.type === "hello") {
      this._live(socket, frame.seq, frame.epoch ?? null);
    } else if (frame.type === "gap") {
      // missed_to null: the bus numbers anew (its history is lost); how many were missed is unknown
      const missed = frame.missed_to === null ? null : frame.missed_to - frame.missed_from + 1;
      this.counts.gaps += 1;
      this.counts.missed += missed ?? 0;
      if (frame.missed_to !== null) this.lastSeq = frame.missed_to;
      this.dispatchEvent(new CustomEvent("gap", { detail: { from: frame.missed_from, to: frame.missed_to, missed } }));
      this._setState({ ...this.state, name: "live", gap: { from: frame.missed_from, to: frame.missed_to } });
    } else if (frame.type === "message") {
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return;  // already seen: exactly once
      const replayed = this.counts.connects > 1 && this._helloSeq !== null && frame.seq <= this._helloSeq;
      if (replayed) this.counts.recovered += 1;
      this.lastSeq = frame.seq;
      this.dispatchEvent(new CustomEvent("message", { detail: { seq: frame.seq, data: frame.data, replayed } }));
    }
  }

  _live(socket, helloSeq, epoch) {
    this.timers.clearTimeout(this._timer);
    this._timer = null;
    this.counts.connects += 1;
    if (this.counts.connects > 1) this.counts.reconnects += 1;
    this._attempt = 0;
    this._helloSeq = helloSeq;
    // a first connection starts from now; so does one under a new numbering (a gap notice follows)
    if (this.lastSeq === null || (epoch !== null && this.epoch !== null && epoch !== this.epoch)) {
      this.lastSeq = helloSeq;
    }
    this.epoch = epoch;
    this._silenceSince = Date.now();
    this._heartbeat = this.timers.setInterval(() => this._beat(socket), this.policy.heartbeatIntervalMs);
    this._setState({ name: "live" });
  }

  _beat(socket) {
    if (socket !== this._socket) return;
    const silent = Date.now() - this._silenceSince;
    if (silent > this.policy.heartbeatIntervalMs + this.policy.heartbeatTimeoutMs) {
      this._lost(socket, 1006, "no answer to the heartbeat: half-open connection replaced");
      return;
    }
    try {
      socket.send(JSON.stringify({ type: "ping", at: Date.now() }));
    } catch {
      // the close event reports it
    }
  }

  _drop(code, reason) {
    const socket = this._socket;
    this._socket = null;
    if (!socket) return;
    socket.onmessage = socket.onclose = socket.onerror = null;
    try {
      socket.close(code === 1000 ? 1000 : 4000, reason.slice(0, 100));  // browsers allow only these
    } catch {
      // already closing
    }
  }

  _lost(socket, code, reason) {
    if (socket !== this._socket) return;
    this._clearTimers();
    this._drop(code, reason);
    this._retry(code, reason);
  }

  _retry(code, reason) {
    if (this._stopped) return;
    // a drain or a full server decides the schedule; a failed retry after it keeps that schedule
    if (code === CLOSE_DRAIN || code === CLOSE_FULL || this._attempt === 0) this._lastCode = code;
    const delay = delayFor(this._attempt, this._lastCode, this.random, this.policy);
    this._attempt += 1;
    this._setState({ name: "reconnecting", retryInMs: Math.round(delay), code, reason: reason || describeClose(code),
                     words: describeClose(code) });
    this._timer = this.timers.setTimeout(() => this._connect(), delay);
  }
}
