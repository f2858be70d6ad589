// `POST /v1/listen` (CONTRACT section 11): Server-Sent Events read over `fetch` streaming (so the
// credential headers can be sent, which `EventSource` cannot), resumed with `Last-Event-ID` after
// a dropped connection, and folded into per-query document lists for `onSnapshot` callbacks.

import { MammothError, parseError } from "./errors.js";
import { documentOrder } from "./order.js";
import type { Change, ChangesEvent, Doc, ListenQuery, SnapshotEvent } from "./schema.js";

/** One SSE event as the stream carries it. */
export interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

/** Parses an SSE byte stream into events (the WHATWG rules for `event`, `id`, `data`, comments). */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let id: string | undefined;
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        // A lone "\r" at the end may be the first half of "\r\n": wait for more.
        if (buffer[nl] === "\r" && nl === buffer.length - 1) break;
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          if (data.length > 0 || event !== "") {
            yield { event: event || "message", id, data: data.join("\n") };
          }
          event = "";
          id = undefined;
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value2 = colon < 0 ? "" : line.slice(colon + 1);
        if (value2.startsWith(" ")) value2 = value2.slice(1);
        if (field === "event") event = value2;
        else if (field === "data") data.push(value2);
        else if (field === "id" && !value2.includes("\0")) id = value2;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

export interface ListenHandlers {
  /**
   * Called after the first snapshot and after every change: each query's current documents, in
   * its sort, and the changes that produced them (empty on a snapshot or reset).
   */
  onSnapshot?: (
    results: Record<string, Doc[]>,
    changes: Record<string, Change[]>,
    seq: number,
  ) => void;
  /** The stream ended for good (`unauthorized`, `forbidden`, a bad query, ...). */
  onError?: (error: MammothError) => void;
  /** The server could not resume (`event: reset`); a fresh snapshot follows. */
  onReset?: (reason: unknown) => void;
}

export interface Subscription {
  /** Resolves at the first snapshot; rejects when the stream fails before it. */
  readonly ready: Promise<void>;
  /** The `seq` of the last event applied (the resume point). */
  readonly seq: number | undefined;
  /** Closes the stream; no callback is called after it. */
  unsubscribe(): void;
}

export interface Transport {
  open(
    queries: Record<string, ListenQuery>,
    lastEventId: string | undefined,
    signal: AbortSignal,
  ): Promise<Response>;
}

/** Errors after which resuming cannot help. */
const FATAL = new Set(["unauthorized", "forbidden", "bad_request", "invalid_query", "not_found"]);

export interface ResumeOptions {
  /** First delay before reconnecting, in ms (doubles up to `maxDelayMs`). */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

export function subscribe(
  transport: Transport,
  queries: Record<string, ListenQuery>,
  handlers: ListenHandlers,
  options: ResumeOptions = {},
): Subscription {
  const controller = new AbortController();
  const orders = Object.fromEntries(
    Object.entries(queries).map(([name, q]) => [name, documentOrder(q.sort)]),
  );
  let results: Record<string, Doc[]> = {};
  let lastId: string | undefined;
  let closed = false;
  let resolveReady!: () => void;
  let rejectReady!: (e: MammothError) => void;
  let isReady = false;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  // An unobserved rejection of `ready` must not crash the host.
  ready.catch(() => {});

  const fail = (error: MammothError) => {
    if (closed) return;
    closed = true;
    controller.abort();
    if (!isReady) rejectReady(error);
    handlers.onError?.(error);
  };

  const emit = (changes: Record<string, Change[]>) => {
    if (closed) return;
    const copy = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, [...v]]));
    handlers.onSnapshot?.(copy, changes, Number(lastId));
    if (!isReady) {
      isReady = true;
      resolveReady();
    }
  };

  const apply = (name: string, list: Change[]) => {
    const docs = results[name] ?? [];
    const byId = new Map(docs.map((d) => [d.id, d]));
    for (const change of list) {
      if (change.type === "removed") byId.delete(change.id);
      else byId.set(change.id, change.document);
    }
    results[name] = [...byId.values()].sort(orders[name] ?? documentOrder(undefined));
  };

  const handle = (ev: SseEvent) => {
    switch (ev.event) {
      case "snapshot": {
        const body = JSON.parse(ev.data) as SnapshotEvent;
        results = { ...body.queries };
        if (ev.id !== undefined) lastId = ev.id;
        emit({});
        break;
      }
      case "changes": {
        const body = JSON.parse(ev.data) as ChangesEvent;
        for (const [name, list] of Object.entries(body.changes)) apply(name, list);
        if (ev.id !== undefined) lastId = ev.id;
        emit(body.changes);
        break;
      }
      case "reset": {
        let reason: unknown;
        try {
          reason = (JSON.parse(ev.data) as { reason?: unknown }).reason;
        } catch {
          reason = ev.data;
        }
        handlers.onReset?.(reason);
        break;
      }
      case "error": {
        const e = parseError(ev.data);
        const err = new MammothError(e?.code ?? "internal", 200, e?.message ?? ev.data);
        // `unavailable` (a slow reader was cut off) resumes; the others end the stream.
        if (err.code !== "unavailable") fail(err);
        return "reconnect";
      }
    }
    return undefined;
  };

  const run = async () => {
    let delay = options.initialDelayMs ?? 250;
    const maxDelay = options.maxDelayMs ?? 5000;
    while (!closed) {
      let wait = delay;
      try {
        const response = await transport.open(queries, lastId, controller.signal);
        if (!response.ok) {
          const err = await MammothError.from(response);
          if (FATAL.has(err.code)) {
            fail(err);
            return;
          }
          if (err.retryAfter !== undefined) wait = err.retryAfter * 1000;
        } else if (response.body) {
          for await (const ev of readSse(response.body)) {
            if (closed) return;
            delay = options.initialDelayMs ?? 250; // The connection works: reset the backoff.
            wait = delay;
            if (handle(ev) === "reconnect") break;
          }
        }
      } catch (cause) {
        if (closed) return;
        // The transport may throw the HTTP error itself; otherwise a dropped connection or a
        // failed fetch: resume below.
        if (cause instanceof MammothError) {
          if (FATAL.has(cause.code)) {
            fail(cause);
            return;
          }
          if (cause.retryAfter !== undefined) wait = cause.retryAfter * 1000;
        }
      }
      if (closed) return;
      await new Promise((r) => setTimeout(r, wait));
      delay = Math.min(delay * 2, maxDelay);
    }
  };
  void run();

  return {
    ready,
    get seq() {
      return lastId === undefined ? undefined : Number(lastId);
    },
    unsubscribe() {
      if (closed) return;
      closed = true;
      controller.abort();
      if (!isReady) rejectReady(new MammothError("network", 0, "unsubscribed"));
    },
  };
}
