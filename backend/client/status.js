// The status page of the reference client (GET /client/): what a user sees through an outage.
// It also keeps, for the tests and drills, every sequence number received and when each state began
// (window.feedLog), so "every broadcast exactly once, in order" is checked from what the page got.
import { Feed } from "./feed.js";

const FEED_LIMIT = 200;
const $ = (id) => document.getElementById(id);
const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const feed = new Feed(`${scheme}//${location.host}/ws`);
const log = { seqs: [], states: [], gaps: [], reloads: 0 };
window.feedLog = log;
window.feed = feed;

function words(state) {
  if (state.name === "live") return "live";
  if (state.name === "reconnecting") return `reconnecting in ${(state.retryInMs / 1000).toFixed(1)} s (${state.reason})`;
  if (state.name === "connecting") return state.attempt ? `connecting (attempt ${state.attempt + 1})` : "connecting";
  return state.name;
}

feed.addEventListener("state", (event) => {
  const state = event.detail;
  log.states.push({ name: state.name, at: performance.now(), code: state.code ?? null });
  const line = $("state");
  line.className = `state ${state.name}`;
  line.textContent = words(state);
  $("last-seq").textContent = state.lastSeq ?? "-";
  $("reconnects").textContent = state.counts.reconnects;
  $("recovered").textContent = state.counts.recovered;
  $("attempts").textContent = state.counts.attempts;
  $("missed").textContent = state.counts.missed;
});

feed.addEventListener("message", (event) => {
  const { seq, data, replayed } = event.detail;
  log.seqs.push(seq);
  $("last-seq").textContent = seq;
  const item = document.createElement("li");
  item.value = seq;
  item.textContent = `#${seq} ${typeof data === "string" ? data : JSON.stringify(data)}${replayed ? " (recovered)" : ""}`;
  if (replayed) item.className = "replayed";
  const list = $("feed");
  list.prepend(item);
  while (list.children.length > FEED_LIMIT) list.lastElementChild.remove();
  $("recovered").textContent = feed.counts.recovered;
});

// Messages older than the server's replay buffer are gone: say so, and start the view afresh from
// what the server has now (this feed has no other state to refetch).
feed.addEventListener("gap", (event) => {
  const { from, to, missed } = event.detail;
  log.gaps.push({ from, to, at: performance.now() });
  log.reloads += 1;
  $("feed").replaceChildren();
  const note = $("gap");
  note.hidden = false;
  note.textContent = missed === null
    ? "The server lost its message history: messages may have been missed. The feed was reloaded from now."
    : `Missed ${missed} message${missed === 1 ? "" : "s"} (#${from} to #${to}): older than the ` +
      "server keeps. The feed was reloaded from what the server has now.";
  $("missed").textContent = feed.counts.missed;
});

feed.start();
