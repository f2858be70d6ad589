// The client against a real `mammoth serve --in-memory`: every call goes over HTTP.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Mammoth, MammothError, etagOf, type SessionStorage } from "../dist/index.js";
import { type Server, newKey, startServer } from "./server.js";

let s: Server;
let db: Mammoth;

beforeAll(async () => {
  s = await startServer();
  db = new Mammoth({ url: s.url, apiKey: s.write_key });
});
afterAll(() => s.stop());

async function rejection(p: Promise<unknown>): Promise<MammothError> {
  const e = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(e).toBeInstanceOf(MammothError);
  return e as MammothError;
}

interface Todo {
  title: string;
  done?: boolean;
  n?: number;
  tags?: string[];
  owner?: string;
}

describe("documents", () => {
  test("create, get, replace, merge, delete", async () => {
    const todos = db.collection<Todo>("docs");
    const made = await todos.create({ id: "t1", title: "write tests", done: false });
    expect(made).toMatchObject({ id: "t1", title: "write tests", done: false });
    expect(made.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect((await todos.get("t1"))!.title).toBe("write tests");

    const replaced = await todos.replace("t1", { title: "replaced" });
    expect(replaced.title).toBe("replaced");
    expect(replaced.done).toBeUndefined();
    expect(replaced.created_at).toBe(made.created_at);

    const merged = await todos.merge("t1", { done: true, title: null });
    expect(merged).toMatchObject({ id: "t1", done: true });
    expect("title" in merged).toBe(false);

    await todos.delete("t1");
    const gone = await rejection(todos.get("t1"));
    expect([gone.code, gone.status]).toEqual(["not_found", 404]);
    expect(gone.message).not.toBe("");
  });

  test("errors are MammothError with the contract's code and status", async () => {
    const todos = db.collection<Todo>("errs");
    await todos.create({ id: "dup", title: "a" });
    const conflict = await rejection(todos.create({ id: "dup", title: "b" }));
    expect([conflict.code, conflict.status]).toEqual(["conflict", 409]);
    const missing = await rejection(todos.merge("nope", { title: "x" }));
    expect(missing.code).toBe("not_found");
    const bad = await rejection(db.collection("bad name!").create({ title: "x" } as never));
    expect([bad.code, bad.status]).toEqual(["bad_request", 400]);

    const reader = new Mammoth({ url: s.url, apiKey: s.read_key });
    const forbidden = await rejection(reader.collection("errs").create({ title: "x" }));
    expect([forbidden.code, forbidden.status]).toEqual(["forbidden", 403]);
    const nobody = new Mammoth({ url: s.url, apiKey: "mm_forged" });
    expect((await rejection(nobody.collections())).status).toBe(401);

    const down = new Mammoth({ url: "http://127.0.0.1:1", apiKey: s.write_key });
    const network = await rejection(down.collections());
    expect([network.code, network.status]).toEqual(["network", 0]);
  });

  test("ETag preconditions (CONTRACT section 12)", async () => {
    const todos = db.collection<Todo>("etags");
    const made = await todos.create({ id: "e1", title: "v1" });
    const etag = etagOf(made);
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(await todos.get("e1", { ifNoneMatch: etag })).toBeNull();
    const v2 = await todos.replace("e1", { title: "v2" }, { ifMatch: etag });
    expect(etagOf(v2)).not.toBe(etag);
    const stale = await rejection(todos.merge("e1", { title: "v3" }, { ifMatch: etag }));
    expect([stale.code, stale.status]).toEqual(["precondition_failed", 412]);
    const exists = await rejection(todos.replace("e1", { title: "x" }, { createOnly: true }));
    expect(exists.code).toBe("precondition_failed");
    expect((await rejection(todos.delete("e1", { ifMatch: etag }))).status).toBe(412);
    await todos.delete("e1", { ifMatch: etagOf(v2) });
  });

  test("collections lists names and counts", async () => {
    await db.collection("listed").create({ title: "x" });
    const all = await db.collections();
    expect(all).toContainEqual({ name: "listed", count: 1 });
  });
});

describe("queries", () => {
  beforeAll(async () => {
    const q = db.collection<Todo>("q");
    for (let n = 1; n <= 25; n++) {
      await q.create({
        id: `d${String(n).padStart(2, "0")}`,
        title: `task ${n}`,
        n,
        done: n % 2 === 0,
        tags: n % 5 === 0 ? ["red", "big"] : ["blue"],
      });
    }
  });

  test("filter, sort, limit, select", async () => {
    const page = await db.collection<Todo>("q").query({
      filter: { done: true, n: { $gt: 10 } },
      sort: [{ field: "n", order: "desc" }],
      limit: 3,
      select: ["n"],
    });
    expect(page.documents.map((d) => d.n)).toEqual([24, 22, 20]);
    expect(Object.keys(page.documents[0]!).sort()).toEqual(["created_at", "id", "n", "updated_at"]);
    expect(page.next_start_after).toBe("d20");
    expect(page.next_cursor).toEqual(expect.any(String));
  });

  test("$or and $contains", async () => {
    const q = db.collection<Todo>("q");
    const or = await q.query({ filter: { $or: [{ n: 1 }, { n: { $gte: 24 } }] } });
    expect(or.documents.map((d) => d.n)).toEqual([1, 24, 25]);
    const red = await q.query({ filter: { tags: { $contains: "red" } } });
    expect(red.documents.map((d) => d.n)).toEqual([5, 10, 15, 20, 25]);
    const any = await q.query({ filter: { tags: { $containsAny: ["big", "none"] } }, limit: 2 });
    expect(any.documents.map((d) => d.n)).toEqual([5, 10]);
  });

  test("cursors: start_after, cursor and queryAll", async () => {
    const q = db.collection<Todo>("q");
    const first = await q.query({ limit: 10 });
    const second = await q.query({ limit: 10, start_after: first.next_start_after! });
    expect(second.documents[0]!.id).toBe("d11");
    const byCursor = await q.query({ limit: 10, cursor: first.next_cursor! });
    expect(byCursor.documents.map((d) => d.id)).toEqual(second.documents.map((d) => d.id));
    const ids: string[] = [];
    for await (const d of q.queryAll({ limit: 7 })) ids.push(d.id);
    expect(ids).toHaveLength(25);
    expect(ids[24]).toBe("d25");
    const bad = await rejection(q.query({ start_after: "no-such-id" }));
    expect([bad.code, bad.status]).toEqual(["invalid_cursor", 400]);
    const invalid = await rejection(q.query({ filter: { n: { $near: 1 } } as never }));
    expect(invalid.code).toBe("invalid_query");
  });

  test("aggregates", async () => {
    const agg = await db.collection("q").aggregate({
      filter: { done: true },
      aggregates: {
        count: { count: {} },
        total: { sum: "n" },
        mean: { avg: "n" },
        low: { min: "n" },
        high: { max: "n" },
      },
    });
    expect(agg).toEqual({ count: 12, total: 156, mean: 13, low: 2, high: 24 });
  });
});

describe("batches (CONTRACT section 12)", () => {
  test("all or nothing, with the failing op's index", async () => {
    const b = db.collection<Todo>("batch");
    await b.create({ id: "old", title: "to delete" });
    const ok = await db.batch([
      { op: "create", collection: "batch", id: "b1", body: { title: "one" } },
      { op: "replace", collection: "batch", id: "b2", body: { title: "two" } },
      { op: "merge", collection: "batch", id: "b1", body: { done: true } },
      { op: "delete", collection: "batch", id: "old" },
    ]);
    expect(ok.results.map((r) => r.status)).toEqual([201, 201, 200, 204]);
    expect(ok.seq).toEqual(expect.any(Number));
    expect(etagOf(ok.results[0]!.document!)).toBe(ok.results[0]!.etag);
    expect((await b.get("b1"))!.done).toBe(true);

    const failed = await rejection(
      db.batch([
        { op: "create", collection: "batch", id: "b3", body: { title: "three" } },
        { op: "create", collection: "batch", id: "b1", body: { title: "exists" } },
      ]),
    );
    expect([failed.code, failed.status, failed.op]).toEqual(["conflict", 409, 1]);
    expect((await rejection(b.get("b3"))).code).toBe("not_found");
  });
});

describe("end-user auth and sessions", () => {
  test("sign up, me, logout, login, wrong password; storage keeps the session", async () => {
    const client = await newKey(s, "client");
    const store = new Map<string, string>();
    const storage: SessionStorage = {
      getItem: (k) => store.get(k) ?? null,
      setItem: (k, v) => void store.set(k, v),
      removeItem: (k) => void store.delete(k),
    };
    const app = new Mammoth({ url: s.url, apiKey: client, storage });
    const seen: (string | null)[] = [];
    app.onAuthChange((user) => seen.push(user?.email ?? null));

    const up = await app.auth.signUp({ email: " Ada@Example.com ", password: "correct horse" });
    expect(up.user).toMatchObject({ email: "ada@example.com", email_verified: false });
    expect(up.session_token).toMatch(/^mms_/);
    expect(store.get("mammoth.session")).toBe(up.session_token);
    expect((await app.auth.me()).id).toBe(up.user.id);

    // A new client (a page reload) picks the session up from storage.
    const reloaded = new Mammoth({ url: s.url, apiKey: client, storage });
    expect((await reloaded.auth.me()).email).toBe("ada@example.com");

    await app.auth.logout();
    expect(app.auth.session).toBeUndefined();
    expect(store.has("mammoth.session")).toBe(false);
    // The other tab's copy is dead on the server: me() says so and forgets it.
    expect((await rejection(reloaded.auth.me())).code).toBe("unauthorized");
    expect(reloaded.auth.session).toBeUndefined();

    const wrong = await rejection(app.auth.login({ email: "ada@example.com", password: "wrong pass" }));
    expect([wrong.code, wrong.status]).toEqual(["unauthorized", 401]);
    const dup = await rejection(app.auth.signUp({ email: "ada@example.com", password: "correct horse" }));
    expect(dup.code).toBe("conflict");
    const back = await app.auth.login({ email: "ada@example.com", password: "correct horse" });
    expect(back.user.id).toBe(up.user.id);
    expect(seen).toEqual(["ada@example.com", null, "ada@example.com"]);
  });

  test("magic link: request, then verify the token from the mailed URL", async () => {
    const client = await newKey(s, "client");
    const app = new Mammoth({ url: s.url, apiKey: client });
    await app.auth.requestMagicLink("grace@example.com");
    const { messages } = await s.admin("GET", "/outbox");
    const mail = messages.filter((m: { to: string }) => m.to === "grace@example.com").at(-1);
    const signedIn = await app.auth.verifyMagicLink(mail.link);
    expect(signedIn.user).toMatchObject({ email: "grace@example.com", email_verified: true });
    expect((await app.auth.me()).id).toBe(signedIn.user.id);
    const reused = await rejection(app.auth.verifyMagicLink(mail.link));
    expect(reused.code).toBe("unauthorized");
  });

  test("a client key with a session reaches what session_scope allows", async () => {
    const client = await newKey(s, "client");
    await s.admin("PATCH", `/projects/${s.project}`, {
      session_scope: { mine: { owner: "{{user.id}}" } },
    });
    const app = new Mammoth({ url: s.url, apiKey: client });
    // A client key alone reaches no data.
    expect((await rejection(app.collection("mine").query())).code).toBe("forbidden");
    const { user } = await app.auth.signUp({ email: "lin@example.com", password: "long enough" });
    const mine = app.collection<Todo>("mine");
    await mine.create({ id: "m1", owner: user.id, title: "mine" });
    const other = await rejection(mine.create({ id: "m2", owner: "someone", title: "theirs" }));
    expect(other.code).toBe("forbidden");
    expect((await mine.query()).documents.map((d) => d.id)).toEqual(["m1"]);
  });
});

describe("scoped tokens", () => {
  test("mint, then use: the scope confines", async () => {
    await db.collection("scoped").create({ id: "a", user_id: "u1" });
    await db.collection("scoped").create({ id: "b", user_id: "u2" });
    const minted = await db.tokens.mint({ scope: { scoped: { user_id: "u1" } }, ttl: 60, permission: "read" });
    expect(minted.permission).toBe("read");
    const u1 = db.withToken(minted.token);
    expect((await u1.collection("scoped").query()).documents.map((d) => d.id)).toEqual(["a"]);
    expect((await rejection(u1.collection("scoped").get("b"))).code).toBe("not_found");
    expect((await rejection(u1.collection("other").query())).code).toBe("forbidden");
    expect((await rejection(u1.collection("scoped").create({ user_id: "u1" }))).code).toBe("forbidden");
    expect((await rejection(db.tokens.mint({ scope: {}, ttl: 0 }))).code).toBe("bad_request");
  });
});
