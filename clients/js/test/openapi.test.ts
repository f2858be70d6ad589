// The committed OpenAPI document and the types generated from it are exactly what the server
// serves and what openapi-typescript makes of it: a change to the API that is not regenerated
// (`npm run gen:types`) fails here.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import { generate } from "../scripts/openapi-types.mjs";
import { type Server, startServer } from "./server.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
let s: Server;
beforeAll(async () => {
  s = await startServer();
});
afterAll(() => s.stop());

test("openapi.json and src/openapi.ts match GET /v1/openapi.json", async () => {
  const served = await (await fetch(`${s.url}/v1/openapi.json`)).text();
  const committed = readFileSync(join(root, "openapi.json"), "utf8");
  expect(committed, "openapi.json is stale: run npm run gen:types").toBe(served);
  const types = readFileSync(join(root, "src/openapi.ts"), "utf8");
  expect(types, "src/openapi.ts is stale: run npm run gen:types").toBe(await generate(served));
});
