// The reconnect policy of the reference client, checked without sleeping: Node's fake timers drive
// the client against a WebSocket stand-in whose every connection fails, and the attempts counted in
// a simulated outage must stay within the bound the policy itself states (maxAttempts).
import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";

import { CLOSE_DRAIN, CLOSE_FULL, POLICY, ceiling, delayFor, Feed, maxAttempts } from "../../backend/client/feed.js";

// A socket that never opens: each one closes with `code` on the next tick, as a refused connection does.
function refusing(code = 1006) {
  return class Refused {
    constructor(url) {
      this.url = url;
      Refused.urls.push(url);
      setTimeout(() => this.onclose && this.onclose({ code, reason: "" }), 0);
    }
    close() {}
    send() {}
    static urls = [];
  };
}

function attemptsIn(windowMs, code, random) {
  mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  try {
    const Socket = refusing(code);
    const feed = new Feed("ws://backend.test/ws", { WebSocket: Socket, random, since: 7 });
    feed.start();
    for (let t = 0; t < windowMs; t += 5) mock.timers.tick(5);
    feed.stop();
    return { retries: feed.counts.attempts - 1, urls: Socket.urls };
  } finally {
    mock.timers.reset();
  }
}

describe("reconnect schedule (fake timers)", () => {
  it("a 30 s outage at the fastest jitter stays within maxAttempts", () => {
    const { retries } = attemptsIn(30_000, 1006, () => 0);
    assert.ok(retries <= maxAttempts(30_000, 1006), `${retries} retries > ${maxAttempts(30_000, 1006)}`);
    assert.ok(retries >= maxAttempts(30_000, 1006) - 1, `the bound is tight: ${retries}`);
  });

  it("at the slowest jitter the client still retries, no slower than its ceiling", () => {
    const { retries } = attemptsIn(30_000, 1006, () => 0.999);
    assert.ok(retries >= 5 && retries <= maxAttempts(30_000, 1006), `${retries}`);
  });

  it("a full server (1013) is retried far less often than a lost connection", () => {
    const full = attemptsIn(30_000, CLOSE_FULL, () => 0).retries;
    assert.ok(full <= maxAttempts(30_000, CLOSE_FULL), `${full}`);
    assert.ok(full < attemptsIn(30_000, 1006, () => 0).retries / 2, `${full}`);
  });

  it("every retry resumes from the last sequence number seen", () => {
    const { urls } = attemptsIn(2_000, 1006, () => 0.5);
    assert.ok(urls.length > 2);
    for (const url of urls) assert.equal(url, "ws://backend.test/ws?since=7");
  });
});

describe("delays", () => {
  it("grow exponentially to their cap, jittered over the upper half", () => {
    for (let n = 0; n < 12; n += 1) {
      const top = Math.min(POLICY.retryMaxMs, POLICY.retryBaseMs * 2 ** n);
      assert.equal(ceiling(n, 1006), top);
      assert.equal(delayFor(n, 1006, () => 0), top / 2);
      assert.equal(delayFor(n, 1006, () => 1), top);
    }
  });

  it("a drain's first retry is soon and spread over [0, drainMaxMs]", () => {
    assert.equal(delayFor(0, CLOSE_DRAIN, () => 0), 0);
    assert.equal(delayFor(0, CLOSE_DRAIN, () => 1), POLICY.drainMaxMs);
    assert.ok(POLICY.drainMaxMs <= 1000);
  });

  it("a full server is left alone for at least half of fullMinMs", () => {
    assert.equal(delayFor(0, CLOSE_FULL, () => 0), POLICY.fullMinMs / 2);
    assert.equal(ceiling(10, CLOSE_FULL), POLICY.fullMaxMs);
  });
});

describe("half-open sockets", () => {
  it("a live socket that stops answering is replaced after the heartbeat's timeout", () => {
    mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
    try {
      const opened = [];
      class Silent {
        constructor(url) {
          opened.push(this);
          this.closed = false;
          setTimeout(() => this.onmessage && this.onmessage({ data: JSON.stringify({ type: "hello", seq: 3 }) }), 1);
        }
        send() {}
        close() { this.closed = true; }
      }
      const feed = new Feed("ws://backend.test/ws", { WebSocket: Silent, random: () => 0 });
      feed.start();
      mock.timers.tick(10);
      assert.equal(feed.state.name, "live");
      const limit = POLICY.heartbeatIntervalMs * 2 + POLICY.heartbeatTimeoutMs;
      for (let t = 0; t < limit && opened.length === 1; t += 10) mock.timers.tick(10);
      assert.equal(opened.length, 2, "a second socket was opened");
      assert.ok(opened[0].closed, "the silent one was closed");
      assert.equal(opened[1].constructor, Silent);
      feed.stop();
    } finally {
      mock.timers.reset();
    }
  });
});

describe("a new numbering on the bus", () => {
  it("resumes with its epoch, and after a new one starts from now and reports an unknown gap", () => {
    mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
    try {
      // the first server numbers under epoch "a", then closes with 1012; the next one numbers anew
      const script = [
        [{ type: "hello", seq: 5, epoch: "a" }, { type: "message", seq: 6, data: "x" }],
        [{ type: "hello", seq: 1, epoch: "b" }, { type: "gap", since: 6, missed_from: 7, missed_to: null },
          { type: "message", seq: 2, data: "y" }],
      ];
      const urls = [];
      class Scripted {
        constructor(url) {
          const frames = script[urls.length];
          urls.push(url);
          frames.forEach((frame, i) =>
            setTimeout(() => this.onmessage && this.onmessage({ data: JSON.stringify(frame) }), i + 1));
          if (urls.length === 1) setTimeout(() => this.onclose && this.onclose({ code: 1012, reason: "" }), 5);
        }
        send() {}
        close() {}
      }
      const feed = new Feed("ws://backend.test/ws", { WebSocket: Scripted, random: () => 0 });
      const seen = [];
      const gaps = [];
      feed.addEventListener("message", (event) => seen.push(event.detail.data));
      feed.addEventListener("gap", (event) => gaps.push(event.detail));
      feed.start();
      for (let t = 0; t < 5000 && urls.length < 2; t += 5) mock.timers.tick(5);
      mock.timers.tick(20);
      assert.equal(urls[1], "ws://backend.test/ws?since=6&epoch=a");
      assert.deepEqual(seen, ["x", "y"], "the new numbering's message 2 is not taken for one already seen");
      assert.deepEqual(gaps, [{ from: 7, to: null, missed: null }]);
      assert.equal(feed.lastSeq, 2);
      assert.equal(feed.epoch, "b");
      feed.stop();
    } finally {
      mock.timers.reset();
    }
  });
});
