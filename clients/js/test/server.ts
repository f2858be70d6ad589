// Starts a real `mammoth serve --in-memory` on a free port of 127.0.0.1 (MAMMOTH_BIN, or the
// workspace's debug build) and offers the admin calls the tests need.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const fallback = join(here, "../../../target/debug/mammoth");
export const MAMMOTH = process.env.MAMMOTH_BIN ?? (existsSync(fallback) ? fallback : "mammoth");

export interface Server {
  url: string;
  project: string;
  write_key: string;
  read_key: string;
  root_token: string;
  proc: ChildProcess;
  admin(method: string, path: string, body?: unknown): Promise<any>;
  stop(): Promise<void>;
}

export async function startServer(): Promise<Server> {
  const proc = spawn(MAMMOTH, ["serve", "--in-memory", "--listen", "127.0.0.1:0", "--ready-json"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let ready: Omit<Server, "proc" | "admin" | "stop"> | undefined;
  for await (const line of createInterface({ input: proc.stdout! })) {
    if (line.startsWith("{")) {
      ready = JSON.parse(line);
      break;
    }
  }
  if (!ready) throw new Error(`${MAMMOTH} exited before it was ready`);
  const base = ready;
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  return {
    ...base,
    proc,
    async admin(method, path, body) {
      const r = await fetch(`${base.url}/admin/v1${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${base.root_token}`,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`admin ${method} ${path}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    },
    async stop() {
      proc.kill("SIGTERM");
      await exited;
    },
  };
}

/** Creates a key of `permission` on the bootstrap project; answers its secret. */
export async function newKey(s: Server, permission: "read" | "write" | "client"): Promise<string> {
  const key = await s.admin("POST", `/projects/${s.project}/keys`, { name: permission, permission });
  return key.key;
}
