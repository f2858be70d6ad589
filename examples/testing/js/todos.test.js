import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, expect, test } from "vitest";

const MAMMOTH = process.env.MAMMOTH_BIN ?? "mammoth";
let server; // { url, project, write_key, read_key, root_token, proc }

beforeEach(async () => {
  const proc = spawn(MAMMOTH, ["serve", "--in-memory", "--listen", "127.0.0.1:0", "--ready-json"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  for await (const line of createInterface({ input: proc.stdout })) {
    if (line.startsWith("{")) {
      server = { ...JSON.parse(line), proc };
      break;
    }
  }
});

afterEach(() => server.proc.kill("SIGTERM"));

test("creates and reads a todo", async () => {
  const todos = `${server.url}/v1/collections/todos/documents`;
  const created = await fetch(todos, {
    method: "POST",
    headers: { "X-API-Key": server.write_key, "Content-Type": "application/json" },
    body: JSON.stringify({ title: "write tests" }),
  });
  expect(created.status).toBe(201);
  const { id } = await created.json();

  const read = await fetch(`${todos}/${id}`, { headers: { "X-API-Key": server.read_key } });
  expect(read.status).toBe(200);
  expect((await read.json()).title).toBe("write tests");
});
