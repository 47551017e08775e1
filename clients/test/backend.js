// The backend as a desktop shell's main process sees it: `backend supervise` spawned as a child,
// its readiness polled over HTTP, its exit code and last log lines read when it ends.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
// make test passes the interpreter of its virtualenv; run alone, the checkout's .venv is used
const PYTHON = process.env.BACKEND_PYTHON || path.join(REPO, ".venv", "bin", "python");

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor(condition, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await condition();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

// `backend supervise` as a child process; `exited` resolves to { code, signal, log }.
export function supervise({ port, dataDir, settings = {} }) {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith("BACKEND_")) delete env[key];
  Object.assign(env, {
    BACKEND_HOST: "127.0.0.1", BACKEND_PORT: String(port), BACKEND_SUPERVISOR_BACKOFF_MAX: "1",
    BACKEND_DATA_DIR: dataDir || mkdtempSync(path.join(tmpdir(), "coordination-")), BACKEND_LOG_LEVEL: "info",
  });
  for (const [key, value] of Object.entries(settings)) env[`BACKEND_${key.toUpperCase()}`] = String(value);
  const child = spawn(PYTHON, ["-m", "backend", "supervise"], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout.on("data", (chunk) => { log += chunk; });
  child.stderr.on("data", (chunk) => { log += chunk; });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, log })));
  const url = `http://127.0.0.1:${port}`;
  return { child, url, wsUrl: `ws://127.0.0.1:${port}/ws`, dataDir: env.BACKEND_DATA_DIR, exited, log: () => log };
}

export async function ready(backend, timeoutMs = 20_000) {
  await waitFor(async () => (await fetch(`${backend.url}/ready`)).status === 200, timeoutMs, `${backend.url}/ready`);
}

export async function serverPid(backend) {
  return (await (await fetch(`${backend.url}/health`)).json()).pid;
}

export async function broadcast(backend, message) {
  const answer = await fetch(`${backend.url}/api/broadcast`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ message }),
  });
  return answer.status === 200 ? (await answer.json()).seq : null;
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Stop what a test started, by its PID, however the test ended.
export async function stop(backend) {
  if (backend.child.exitCode === null && backend.child.signalCode === null) {
    backend.child.kill("SIGTERM");
    const timer = setTimeout(() => backend.child.kill("SIGKILL"), 20_000);
    await backend.exited;
    clearTimeout(timer);
  }
}
