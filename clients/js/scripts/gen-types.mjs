// Regenerates the committed OpenAPI document (openapi.json) and its TypeScript types
// (src/openapi.ts) from what a real server serves at GET /v1/openapi.json.
//
//   npm run gen:types                      # starts MAMMOTH_BIN (or ../../target/debug/mammoth)
//   npm run gen:types -- http://host:port  # or reads a running server
//
// test/openapi.test.ts fails when either committed file differs from what the server serves.
import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { generate } from "./openapi-types.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

async function served(url) {
  const r = await fetch(`${url}/v1/openapi.json`);
  if (!r.ok) throw new Error(`GET /v1/openapi.json: ${r.status}`);
  return r.text();
}

let url = process.argv[2];
let proc;
if (!url) {
  const fallback = join(root, "../../target/debug/mammoth");
  const bin = process.env.MAMMOTH_BIN ?? (existsSync(fallback) ? fallback : "mammoth");
  proc = spawn(bin, ["serve", "--in-memory", "--listen", "127.0.0.1:0", "--ready-json"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  for await (const line of createInterface({ input: proc.stdout })) {
    if (line.startsWith("{")) {
      url = JSON.parse(line).url;
      break;
    }
  }
}
try {
  const doc = await served(url);
  writeFileSync(join(root, "openapi.json"), doc);
  writeFileSync(join(root, "src/openapi.ts"), await generate(doc));
  console.log("wrote openapi.json and src/openapi.ts");
} finally {
  proc?.kill("SIGTERM");
}
