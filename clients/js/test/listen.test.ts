// Listening against a real server: snapshots, added/modified/removed, unsubscribe, and resuming
// with Last-Event-ID after the connection drops.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type Change, type Doc, Mammoth, MammothError, readSse } from "../dist/index.js";
import { type Server, startServer } from "./server.js";

let s: Server;
let db: Mammoth;

beforeAll(async () => {
  s = await startServer();
  db = new Mammoth({ url: s.url, apiKey: s.write_key });
});
afterAll(() => s.stop());

/** Collects callbacks; `next(pred)` waits for the first call (from now on) matching `pred`. */
function recorder<T>() {
  const seen: T[] = [];
  const waiters: { pred: (t: T) => boolean; resolve: (t: T) => void }[] = [];
  return {
    seen,
    push(t: T) {
      seen.push(t);
      for (const w of [...waiters]) {
        if (w.pred(t)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(t);
        }
      }
    },
    next(pred: (t: T) => boolean = () => true): Promise<T> {
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
  };
}

type Todo = { title: string; n: number; done: boolean };
type Seen = { docs: Doc<Todo>[]; changes: Change<Todo>[] };

describe("onSnapshot", () => {
  test("snapshot, then added, modified, removed in the query's order; unsubscribe stops", async () => {
    const todos = db.collection<{ title: string; n: number; done: boolean }>("live");
    await todos.create({ id: "a", title: "a", n: 3, done: false });
    const r = recorder<Seen>();
    const sub = todos.onSnapshot(
      { filter: { done: false }, sort: [{ field: "n", order: "asc" }] },
      (docs, changes) => r.push({ docs, changes }),
    );
    await sub.ready;
    expect(r.seen[0]!.docs.map((d) => d.id)).toEqual(["a"]);
    expect(sub.seq).toEqual(expect.any(Number));

    let next = r.next();
    await todos.create({ id: "b", title: "b", n: 1, done: false });
    let got = await next;
    expect(got.changes).toMatchObject([{ type: "added", id: "b" }]);
    expect(got.docs.map((d) => d.id)).toEqual(["b", "a"]);

    next = r.next();
    await todos.merge("a", { n: 0 });
    got = await next;
    expect(got.changes).toMatchObject([{ type: "modified", id: "a", document: { n: 0 } }]);
    expect(got.docs.map((d) => d.id)).toEqual(["a", "b"]);

    next = r.next();
    await todos.merge("b", { done: true });
    got = await next;
    expect(got.changes).toEqual([{ type: "removed", id: "b", reason: "unmatched" }]);
    expect(got.docs.map((d) => d.id)).toEqual(["a"]);

    next = r.next();
    await todos.delete("a");
    got = await next;
    expect(got.changes).toEqual([{ type: "removed", id: "a", reason: "deleted" }]);
    expect(got.docs).toEqual([]);

    sub.unsubscribe();
    const count = r.seen.length;
    await todos.create({ id: "c", title: "c", n: 9, done: false });
    // A fresh query proves the write is committed; a listener that still ran would have heard it
    // by the time a second stream's snapshot shows it.
    const probe = todos.onSnapshot({}, () => {});
    await probe.ready;
    probe.unsubscribe();
    expect(r.seen.length).toBe(count);
  });

  test("several queries in one stream", async () => {
    const r = recorder<Record<string, Doc[]>>();
    const sub = db.listen(
      {
        small: { collection: "multi", filter: { n: { $lt: 10 } } },
        all: { collection: "multi", limit: 2 },
      },
      { onSnapshot: (results) => r.push(results) },
    );
    await sub.ready;
    const next = r.next((res) => (res.small?.length ?? 0) > 0);
    await db.collection("multi").create({ id: "x", n: 5 });
    const res = await next;
    expect(res.small!.map((d) => d.id)).toEqual(["x"]);
    expect(res.all!.map((d) => d.id)).toEqual(["x"]);
    sub.unsubscribe();
  });

  test("a query the credential may not read fails with a typed error", async () => {
    const reader = new Mammoth({ url: s.url, apiKey: "mm_not-a-key" });
    const errors: MammothError[] = [];
    const sub = reader.collection("live").onSnapshot({}, () => {}, (e) => errors.push(e));
    const e = await sub.ready.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(e).toBeInstanceOf(MammothError);
    expect((e as MammothError).code).toBe("unauthorized");
    expect(errors.map((x) => x.status)).toEqual([401]);
    const bad = db.collection("live").onSnapshot({ filter: { n: { $what: 1 } } as never }, () => {});
    await expect(bad.ready).rejects.toMatchObject({ code: "invalid_query", status: 400 });
  });
});

describe("resume", () => {
  test("a dropped stream resumes with Last-Event-ID: changes only, none lost", async () => {
    const opened: (string | null)[] = [];
    let cut: (() => void) | undefined;
    // A fetch that records Last-Event-ID and lets the test cut the first stream's body.
    const cutting: typeof fetch = async (input, init) => {
      const headers = new Headers(init?.headers);
      opened.push(headers.get("last-event-id"));
      const response = await fetch(input, init);
      if (opened.length > 1 || !response.body) return response;
      const reader = response.body.getReader();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          cut = () => {
            controller.error(new TypeError("network connection lost"));
            void reader.cancel();
          };
        },
        async pull(controller) {
          const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
          if (done) controller.close();
          else controller.enqueue(value!);
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const app = new Mammoth({
      url: s.url,
      apiKey: s.write_key,
      fetch: cutting,
      resume: { initialDelayMs: 10 },
    });
    const r = recorder<Seen>();
    const resets: unknown[] = [];
    const sub = app.listen(
      { q: { collection: "resume" } },
      {
        onSnapshot: (res, ch) => r.push({ docs: (res.q ?? []) as Doc<Todo>[], changes: (ch.q ?? []) as Change<Todo>[] }),
        onReset: (why) => resets.push(why),
      },
    );
    await sub.ready;
    const seqAtSnapshot = sub.seq!;
    cut!();
    // Written while no stream is open: the resumed stream must deliver it.
    await db.collection("resume").create({ id: "while-away", n: 1 });
    const got = await r.next((x) => x.docs.length === 1);
    expect(got.changes).toMatchObject([{ type: "added", id: "while-away" }]);
    expect(opened).toEqual([null, String(seqAtSnapshot)]);
    expect(resets).toEqual([]);
    expect(r.seen.length).toBe(2);
    sub.unsubscribe();
  });
});

describe("readSse", () => {
  test("events split across chunks, CRLF, comments, multi-line data", async () => {
    const text = ": ping\r\nevent: snapshot\r\nid: 7\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n: ping\n\nevent: changes\nid: 8\ndata: x\n\n";
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        // One byte at a time: every boundary falls inside something.
        for (const b of bytes) c.enqueue(new Uint8Array([b]));
        c.close();
      },
    });
    const events = [];
    for await (const ev of readSse(body)) events.push(ev);
    expect(events).toEqual([
      { event: "snapshot", id: "7", data: '{"a":\n1}' },
      { event: "changes", id: "8", data: "x" },
    ]);
  });
});
