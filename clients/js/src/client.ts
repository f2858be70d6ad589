import { MammothError } from "./errors.js";
import { type ListenHandlers, type ResumeOptions, type Subscription, subscribe } from "./listen.js";
import type {
  AggregateRequest,
  AggregateResponse,
  BatchOp,
  BatchResponse,
  CollectionsResponse,
  Doc,
  Json,
  ListenQuery,
  MintRequest,
  MintResponse,
  Query,
  QueryPage,
  SessionResponse,
  User,
} from "./schema.js";

/** Where a session token is kept between page loads; `localStorage` fits. */
export interface SessionStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface MammothOptions {
  /** The server's base URL, e.g. `https://mammoth.example.com`. */
  url: string;
  /** An API key (`mm_...`): a client key in a browser, a read or write key on a server. */
  apiKey: string;
  /** A scoped token (from `tokens.mint`), sent as the bearer; it wins over a session. */
  token?: string;
  /** A session token (`mms_...`) to start with; otherwise read from `storage`. */
  session?: string;
  /** Keeps the session across reloads (e.g. `localStorage`). */
  storage?: SessionStorage;
  /** The key under which `storage` keeps the session (default `mammoth.session`). */
  storageKey?: string;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /** How listeners back off before resuming. */
  resume?: ResumeOptions;
}

/** The strong `ETag` of each document a call returned (CONTRACT section 12). */
const etags = new WeakMap<object, string>();

/** The ETag the server sent with `doc`, for `ifMatch` / `ifNoneMatch`. */
export function etagOf(doc: object): string | undefined {
  return etags.get(doc);
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

interface Call {
  method: Method;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Which bearer rides along: the data credential (token or session), the session, or none. */
  bearer?: "data" | "session" | "none";
  signal?: AbortSignal;
}

export class Mammoth {
  readonly url: string;
  readonly auth: Auth;
  readonly tokens: Tokens;
  /** @internal */ readonly options: MammothOptions;
  /** @internal */ session: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly listeners = new Set<(user: User | null, session: string | undefined) => void>();

  constructor(options: MammothOptions) {
    this.options = options;
    this.url = options.url.replace(/\/+$/, "");
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new Error("no fetch: pass options.fetch");
    this.fetchImpl = f.bind(globalThis);
    this.session =
      options.session ?? options.storage?.getItem(options.storageKey ?? "mammoth.session") ?? undefined;
    this.auth = new Auth(this);
    this.tokens = new Tokens(this);
  }

  /** A client with the same key that sends `token` (a scoped token) as its credential. */
  withToken(token: string): Mammoth {
    return new Mammoth({ ...this.options, token, session: undefined, storage: undefined });
  }

  collection<T extends object = Record<string, unknown>>(name: string): Collection<T> {
    return new Collection<T>(this, name);
  }

  /** `GET /v1/collections`. */
  async collections(): Promise<CollectionsResponse["collections"]> {
    const body = await this.json<CollectionsResponse>({ method: "GET", path: "/v1/collections" });
    return body.collections;
  }

  /** `POST /v1/batch`: all ops or none, in one commit (CONTRACT section 12). */
  async batch(ops: BatchOp[]): Promise<BatchResponse> {
    const body = await this.json<BatchResponse>({ method: "POST", path: "/v1/batch", body: { ops } });
    for (const r of body.results) if (r.document && r.etag) etags.set(r.document, r.etag);
    return body;
  }

  /**
   * `POST /v1/listen` with several named queries in one stream; the callbacks get each query's
   * current documents. Resumes by itself with `Last-Event-ID` when the connection drops.
   */
  listen(queries: Record<string, ListenQuery>, handlers: ListenHandlers): Subscription {
    return subscribe(
      {
        open: (q, lastEventId, signal) =>
          this.raw({
            method: "POST",
            path: "/v1/listen",
            body: { queries: q },
            headers: {
              Accept: "text/event-stream",
              ...(lastEventId === undefined ? {} : { "Last-Event-ID": lastEventId }),
            },
            signal,
          }),
      },
      queries,
      handlers,
      this.options.resume,
    );
  }

  /** Calls `cb` whenever the signed-in user changes (sign-up, login, verify, logout). */
  onAuthChange(cb: (user: User | null, session: string | undefined) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** @internal */
  setSession(session: string | undefined, user: User | null): void {
    this.session = session;
    const storage = this.options.storage;
    const key = this.options.storageKey ?? "mammoth.session";
    if (storage) {
      if (session === undefined) storage.removeItem(key);
      else storage.setItem(key, session);
    }
    for (const cb of this.listeners) cb(user, session);
  }

  /** @internal A request; answers the raw response (2xx or 304) or throws `MammothError`. */
  async raw(call: Call): Promise<Response> {
    const headers: Record<string, string> = { "X-API-Key": this.options.apiKey, ...call.headers };
    const which = call.bearer ?? "data";
    const bearer =
      which === "none"
        ? undefined
        : which === "session"
          ? this.session
          : (this.options.token ?? this.session);
    if (bearer !== undefined) headers.Authorization = `Bearer ${bearer}`;
    let body: string | undefined;
    if (call.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(call.body);
    }
    let response: Response;
    try {
      response = await this.fetchImpl(this.url + call.path, {
        method: call.method,
        headers,
        body,
        signal: call.signal,
      });
    } catch (cause) {
      if (call.signal?.aborted) throw cause;
      throw new MammothError("network", 0, `could not reach ${this.url}: ${String(cause)}`, {
        cause,
      });
    }
    if (!response.ok && response.status !== 304) throw await MammothError.from(response);
    return response;
  }

  /** @internal A request whose 2xx answer is JSON (or empty, then `undefined`). */
  async json<T>(call: Call): Promise<T> {
    const response = await this.raw(call);
    const text = await response.text();
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }

  /** @internal A single-document call: the document, its ETag remembered. */
  async doc<T extends object>(call: Call): Promise<{ doc: Doc<T> | null; status: number }> {
    const response = await this.raw(call);
    if (response.status === 304) return { doc: null, status: 304 };
    const doc = (await response.json()) as Doc<T>;
    const etag = response.headers.get("etag");
    if (etag !== null) etags.set(doc, etag);
    return { doc, status: response.status };
  }
}

export interface WriteOptions {
  /** Write only when the document's ETag is this one (else 412 `precondition_failed`). */
  ifMatch?: string;
}

export interface ReplaceOptions extends WriteOptions {
  /** `true`: create only (`If-None-Match: *`); an existing document gives 412. */
  createOnly?: boolean;
}

export interface GetOptions {
  /** `If-None-Match`: when the document still has this ETag, `get` answers `null` (304). */
  ifNoneMatch?: string;
}

export class Collection<T extends object = Record<string, unknown>> {
  constructor(
    readonly client: Mammoth,
    readonly name: string,
  ) {}

  private path(id?: string): string {
    const base = `/v1/collections/${encodeURIComponent(this.name)}`;
    return id === undefined ? `${base}/documents` : `${base}/documents/${encodeURIComponent(id)}`;
  }

  /** `GET`: the document; `null` only when `ifNoneMatch` still matches (304). 404 throws. */
  async get(id: string, options: GetOptions = {}): Promise<Doc<T> | null> {
    const headers: Record<string, string> = {};
    if (options.ifNoneMatch !== undefined) headers["If-None-Match"] = options.ifNoneMatch;
    return (await this.client.doc<T>({ method: "GET", path: this.path(id), headers })).doc;
  }

  /** `POST`: creates a document (with `id`, or a generated one); an existing id gives 409. */
  async create(body: T & { id?: string }): Promise<Doc<T>> {
    const r = await this.client.doc<T>({ method: "POST", path: this.path(), body });
    return r.doc!;
  }

  /** `PUT`: replaces (or creates) the document. */
  async replace(id: string, body: T, options: ReplaceOptions = {}): Promise<Doc<T>> {
    const r = await this.client.doc<T>({
      method: "PUT",
      path: this.path(id),
      body,
      headers: preconditions(options),
    });
    return r.doc!;
  }

  /** `PATCH`: JSON Merge Patch; `null` deletes a field. A missing document gives 404. */
  async merge(
    id: string,
    patch: { [K in keyof T]?: T[K] | null } & Record<string, Json | undefined>,
    options: WriteOptions = {},
  ): Promise<Doc<T>> {
    const r = await this.client.doc<T>({
      method: "PATCH",
      path: this.path(id),
      body: patch,
      headers: preconditions(options),
    });
    return r.doc!;
  }

  /** `DELETE`; a missing document gives 404. */
  async delete(id: string, options: WriteOptions = {}): Promise<void> {
    await this.client.raw({ method: "DELETE", path: this.path(id), headers: preconditions(options) });
  }

  /** One page of `POST .../query` (CONTRACT sections 7 and 13). */
  async query(query: Query = {}): Promise<QueryPage<T>> {
    return this.client.json<QueryPage<T>>({
      method: "POST",
      path: `/v1/collections/${encodeURIComponent(this.name)}/query`,
      body: query,
    });
  }

  /** Every matching document, page after page (following `next_cursor`). */
  async *queryAll(query: Omit<Query, "cursor" | "start_after"> = {}): AsyncGenerator<Doc<T>> {
    let cursor: string | undefined;
    do {
      const page = await this.query(cursor === undefined ? query : { ...query, cursor });
      yield* page.documents;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** `POST .../aggregate`: counts, sums, averages, minimums and maximums (section 13). */
  async aggregate(request: AggregateRequest): Promise<AggregateResponse["aggregates"]> {
    const body = await this.client.json<AggregateResponse>({
      method: "POST",
      path: `/v1/collections/${encodeURIComponent(this.name)}/aggregate`,
      body: request,
    });
    return body.aggregates;
  }

  /**
   * Listens to one query of this collection: `onNext(documents, changes)` gets its current
   * result at once and after every commit that changes it. Answers the subscription; call
   * `unsubscribe()` to stop.
   */
  onSnapshot(
    query: Omit<ListenQuery, "collection">,
    onNext: (documents: Doc<T>[], changes: import("./schema.js").Change<T>[]) => void,
    onError?: (error: MammothError) => void,
  ): Subscription {
    return this.client.listen(
      { q: { ...query, collection: this.name } },
      {
        onSnapshot: (results, changes) =>
          onNext((results.q ?? []) as Doc<T>[], (changes.q ?? []) as import("./schema.js").Change<T>[]),
        onError,
      },
    );
  }
}

function preconditions(options: ReplaceOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.ifMatch !== undefined) headers["If-Match"] = options.ifMatch;
  if (options.createOnly) headers["If-None-Match"] = "*";
  return headers;
}

/** End-user auth (CONTRACT section 8); the session it gets is kept by the client. */
export class Auth {
  constructor(private readonly client: Mammoth) {}

  /** The current session token, if any. */
  get session(): string | undefined {
    return this.client.session;
  }

  /** Uses `session` from now on (e.g. one kept by the app itself); `undefined` signs out locally. */
  setSession(session: string | undefined): void {
    this.client.setSession(session, null);
  }

  private async start(path: string, body: unknown, method: Method = "POST"): Promise<SessionResponse> {
    const r = await this.client.json<SessionResponse>({ method, path, body, bearer: "none" });
    this.client.setSession(r.session_token, r.user);
    return r;
  }

  /** `POST /v1/auth/signup`; signs the user in. */
  signUp(credentials: { email: string; password: string }): Promise<SessionResponse> {
    return this.start("/v1/auth/signup", credentials);
  }

  /** `POST /v1/auth/login`; signs the user in. */
  login(credentials: { email: string; password: string }): Promise<SessionResponse> {
    return this.start("/v1/auth/login", credentials);
  }

  /** `POST /v1/auth/magic-link`: mails a sign-in link (to `redirectUrl` with `token=...`). */
  async requestMagicLink(email: string, redirectUrl?: string): Promise<void> {
    const body: Record<string, string> = { email };
    if (redirectUrl !== undefined) body.redirect_url = redirectUrl;
    await this.client.json({ method: "POST", path: "/v1/auth/magic-link", body, bearer: "none" });
  }

  /**
   * `GET /v1/auth/verify?token=...`: signs in with a magic link's token. Pass the token, or a URL
   * (default: the page's own `location.href`) whose query holds `token`.
   */
  verifyMagicLink(tokenOrUrl?: string): Promise<SessionResponse> {
    let token = tokenOrUrl;
    const href =
      token === undefined ? (globalThis as { location?: { href: string } }).location?.href : token;
    if (href !== undefined && /^[a-z]+:\/\//i.test(href)) {
      token = new URL(href).searchParams.get("token") ?? undefined;
    }
    if (token === undefined) {
      return Promise.reject(new MammothError("bad_request", 0, "no magic link token given"));
    }
    return this.start(`/v1/auth/verify?token=${encodeURIComponent(token)}`, undefined, "GET");
  }

  /** `GET /v1/auth/me`: the signed-in user. A dead session is forgotten (and 401 thrown). */
  async me(): Promise<User> {
    try {
      const r = await this.client.json<{ user: User }>({
        method: "GET",
        path: "/v1/auth/me",
        bearer: "session",
      });
      return r.user;
    } catch (e) {
      if (e instanceof MammothError && e.code === "unauthorized" && this.client.session) {
        this.client.setSession(undefined, null);
      }
      throw e;
    }
  }

  /** `POST /v1/auth/logout`: ends the session on the server and forgets it here. */
  async logout(): Promise<void> {
    if (this.client.session === undefined) return;
    try {
      await this.client.raw({ method: "POST", path: "/v1/auth/logout", bearer: "session" });
    } catch (e) {
      // An already dead session is signed out all the same.
      if (!(e instanceof MammothError && e.code === "unauthorized")) throw e;
    } finally {
      this.client.setSession(undefined, null);
    }
  }
}

/** Scoped tokens (CONTRACT section 9): minted with a server key only. */
export class Tokens {
  constructor(private readonly client: Mammoth) {}

  /** `POST /v1/tokens`: a JWT confined to `scope`; use it with `client.withToken(token)`. */
  mint(request: MintRequest): Promise<MintResponse> {
    return this.client.json<MintResponse>({
      method: "POST",
      path: "/v1/tokens",
      body: request,
      bearer: "none",
    });
  }
}
