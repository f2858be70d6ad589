// The wire shapes of the Mammoth API, as the client exposes them.
//
// Every shape the OpenAPI document describes exactly is taken from `./openapi.ts`, which
// openapi-typescript generates from `GET /v1/openapi.json` (`npm run gen:types`; a test fails when
// it is stale), so the client's types cannot drift from the server. The document types filters,
// scopes and aggregate specs only as "object" and does not (yet) describe `POST /v1/batch` or the
// listen stream's events, so those are written here by hand, from CONTRACT sections 7, 11-13.

import type { components } from "./openapi.js";

type S = components["schemas"];

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A stored document: the body plus the three server-managed fields (CONTRACT section 6). */
export type Doc<T extends object = Record<string, unknown>> = T & S["Document"];

/** `{"error": {"code", "message", "op"?}}` (CONTRACT section 3; `op` for batches, section 12). */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; op?: number };
}

export type ErrorCode =
  | S["ErrorCode"]
  // Client-side: the request never got an HTTP answer.
  | "network";

// ---- queries (sections 7 and 13) ----

export type Operators = {
  $eq?: Json;
  $ne?: Json;
  $gt?: Json;
  $gte?: Json;
  $lt?: Json;
  $lte?: Json;
  $in?: Json[];
  $prefix?: string;
  $contains?: Json;
  $containsAny?: Json[];
};

/** A filter: field path -> plain value (equality) or operator object; `$or` of filters. */
export type Filter = {
  $or?: Filter[];
} & { [path: string]: Json | Operators | Filter[] | undefined };

export type SortField = S["SortField"];

export interface Query {
  filter?: Filter;
  sort?: SortField[];
  limit?: number;
  start_after?: string;
  cursor?: string;
  select?: string[];
}

export type QueryPage<T extends object = Record<string, unknown>> = Omit<S["QueryPage"], "documents"> & {
  documents: Doc<T>[];
};

export type Aggregate =
  | { count: Record<string, never> }
  | { sum: string }
  | { avg: string }
  | { min: string }
  | { max: string };

export interface AggregateRequest {
  filter?: Filter;
  aggregates: Record<string, Aggregate>;
}

export type AggregateResponse = S["AggregateResult"];

export type CollectionsResponse = S["CollectionList"];

// ---- batches (section 12) ----

export type BatchOp =
  | {
      op: "create";
      collection: string;
      id?: string;
      body: Record<string, Json>;
      exists?: boolean;
    }
  | {
      op: "replace" | "merge";
      collection: string;
      id: string;
      body: Record<string, Json>;
      if_match?: string;
      exists?: boolean;
    }
  | { op: "delete"; collection: string; id: string; if_match?: string; exists?: boolean };

export interface BatchResponse {
  results: { status: 200 | 201 | 204; document?: Doc; etag?: string }[];
  seq: number;
}

// ---- end-user auth (section 8) ----

export type User = S["User"];

export type SessionResponse = S["SignedIn"];

/** What an API key may do. */
export type KeyPermission = S["KeyPermission"];

// ---- scoped tokens (section 9) ----

export type Permission = S["TokenPermission"];

export interface MintRequest {
  scope: Record<string, Filter>;
  ttl?: number;
  permission?: Permission;
}

export type MintResponse = Omit<S["TokenResponse"], "scope"> & { scope: Record<string, Filter> };

// ---- realtime (section 11) ----

export type ListenQuery = Omit<S["ListenQuery"], "filter"> & { filter?: Filter };

export type Change<T extends object = Record<string, unknown>> =
  | { type: "added" | "modified"; id: string; document: Doc<T> }
  | { type: "removed"; id: string; reason: "deleted" | "unmatched" | "expired" };

export interface SnapshotEvent {
  queries: Record<string, Doc[]>;
}

export interface ChangesEvent {
  changes: Record<string, Change[]>;
}
