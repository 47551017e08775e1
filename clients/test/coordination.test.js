// Process coordination, as a desktop shell's main process does it: spawn `backend supervise`, wait
// for ready, watch it through a server crash, a second instance, a crash loop and a stop, with the
// reference client (in Node, on the `ws` package) connected the whole time.
import assert from "node:assert/strict";
import net from "node:net";
import { after, describe, it } from "node:test";

import WebSocket from "ws";

import { CLOSE_DRAIN, Feed, maxAttempts } from "../../backend/client/feed.js";
import { alive, broadcast, freePort, ready, serverPid, stop, supervise, waitFor } from "./backend.js";

const started = [];
const feeds = [];
after(async () => {
  for (const feed of feeds) feed.stop();
  for (const backend of started) await stop(backend);
});

async function launch(options = {}) {
  const backend = supervise({ port: options.port || (await freePort()), ...options });
  started.push(backend);
  return backend;
}

function follow(url) {
  const feed = new Feed(url, { WebSocket });
  const seen = [];
  const states = [];
  feed.addEventListener("message", (event) => seen.push(event.detail.seq));
  feed.addEventListener("state", (event) => states.push(event.detail));
  feeds.push(feed);
  feed.start();
  return { feed, seen, states };
}

describe("a desktop shell's main process", { timeout: 120_000 }, () => {
  it("spawns the supervisor, waits for ready, and the client resumes through a server SIGKILL missing nothing", async () => {
    const backend = await launch();
    await ready(backend);
    const { feed, seen } = follow(backend.wsUrl);
    await waitFor(() => feed.state.name === "live", 10_000, "the client to be live");
    const acked = [];
    for (let n = 0; n < 5; n += 1) acked.push(await broadcast(backend, `before ${n}`));
    const killed = await serverPid(backend);
    process.kill(killed, "SIGKILL");
    await waitFor(() => feed.state.name === "reconnecting", 5_000, "the client to see the crash");
    for (let n = 0; n < 40; n += 1) {  // posted while the supervisor restarts the server
      const seq = await broadcast(backend, `during ${n}`).catch(() => null);
      if (seq !== null) acked.push(seq);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await waitFor(async () => (await serverPid(backend)) !== killed, 20_000, "a restarted server");
    for (let n = 0; n < 5; n += 1) acked.push(await broadcast(backend, `after ${n}`));
    await waitFor(() => feed.lastSeq >= Math.max(...acked), 15_000, "the client to catch up");
    assert.deepEqual(seen.filter((s) => acked.includes(s)), acked, "every acknowledged broadcast once, in order");
    assert.equal(new Set(seen).size, seen.length, "no duplicates");
    assert.ok(feed.counts.reconnects >= 1);
  });

  it("a second supervisor on the same data directory exits 3 and says why", async () => {
    const first = await launch();
    await ready(first);
    const second = await launch({ dataDir: first.dataDir });
    const { code, log } = await second.exited;
    assert.equal(code, 3);
    assert.match(log, new RegExp(`another supervisor \\(pid ${first.child.pid}\\)`));
    assert.equal((await fetch(`${first.url}/ready`)).status, 200, "the first one keeps serving");
  });

  it("a crash loop ends the supervisor with exit 4 and its last log lines", async () => {
    const squatter = net.createServer();
    await new Promise((resolve) => squatter.listen(0, "127.0.0.1", resolve));
    try {
      const backend = await launch({ port: squatter.address().port, settings: { supervisor_max_starts: 3 } });
      const { code, log } = await backend.exited;
      assert.equal(code, 4);
      const last = log.trim().split("\n").slice(-5).join("\n");
      assert.match(last, /giving up/, last);
    } finally {
      squatter.close();
    }
  });

  it("stopping the supervisor drains the clients with 1001 and leaves no process behind", async () => {
    const backend = await launch();
    await ready(backend);
    const { feed, states } = follow(backend.wsUrl);
    await waitFor(() => feed.state.name === "live", 10_000, "the client to be live");
    const server = await serverPid(backend);
    backend.child.kill("SIGTERM");
    const { code } = await backend.exited;
    assert.equal(code, 0);
    await waitFor(() => states.some((s) => s.code === 1001), 5_000, "the client to get 1001");
    await waitFor(() => !alive(server), 5_000, `server pid ${server} to be gone`);
    assert.ok(!alive(backend.child.pid));
    feed.stop();
  });

  it("during a 30 s outage the client's attempts stay within its policy, and it is back when the backend is", async () => {
    const backend = await launch();
    await ready(backend);
    const { feed } = follow(backend.wsUrl);
    await waitFor(() => feed.state.name === "live", 10_000, "the client to be live");
    backend.child.kill("SIGTERM");  // the shell stops its backend (an update, a crash of the shell's child)
    await backend.exited;
    await waitFor(() => feed.state.name === "reconnecting", 5_000, "the client to see the outage");
    const before = feed.counts.attempts;
    const outageMs = 30_000;
    await new Promise((resolve) => setTimeout(resolve, outageMs));
    const attempts = feed.counts.attempts - before;
    const bound = maxAttempts(outageMs, CLOSE_DRAIN);  // the outage began with the drain's 1001
    assert.ok(attempts <= bound, `${attempts} attempts > ${bound}`);
    const again = await launch({ port: Number(backend.url.split(":").at(-1)), dataDir: backend.dataDir });
    await ready(again);
    await waitFor(() => feed.state.name === "live", 15_000, "the client to be live again");
  });
});
