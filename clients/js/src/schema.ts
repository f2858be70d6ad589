// The wire shapes of the Mammoth API (CONTRACT sections 3-13).
//
// HAND-WRITTEN STAND-IN: this file is written by hand from /work/shared/spec/CONTRACT.md because
// `GET /v1/openapi.json` had not landed when the client was written. `npm run gen:types` replaces
// it with the output of openapi-typescript run on the served document (src/openapi.ts), after
// which this file re-exports the generated schemas under these names. Keep every wire type here,
// in one place, so that swap touches one file.

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A stored document: the body plus the three server-managed fields (CONTRACT section 6). */
export type Doc<T extends object = Record<string, Json>> = T & {
  id: string;
  created_at: string;
  updated_at: string;
};

/** `{"error": {"code", "message", "op"?}}` (CONTRACT section 3; `op` for batches, section 12). */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; op?: number };
}

export type ErrorCode =
  | "bad_request"
  | "invalid_query"
  | "invalid_cursor"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "payload_too_large"
  | "rate_limited"
  | "precondition_failed"
  | "unavailable"
  | "internal"
  // Client-side: the request never got an HTTP answer, or the answer was not the contract's.
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

export interface SortField {
  field: string;
  order?: "asc" | "desc";
}

export interface Query {
  filter?: Filter;
  sort?: SortField[];
  limit?: number;
  start_after?: string;
  cursor?: string;
  select?: string[];
}

export interface QueryPage<T extends object = Record<string, Json>> {
  documents: Doc<T>[];
  next_start_after: string | null;
  next_cursor: string | null;
}

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

export interface AggregateResponse {
  aggregates: Record<string, Json>;
}

export interface CollectionsResponse {
  collections: { name: string; count: number }[];
}

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

export interface User {
  id: string;
  email: string;
  email_verified: boolean;
  created_at: string;
}

export interface SessionResponse {
  user: User;
  session_token: string;
}

// ---- scoped tokens (section 9) ----

export type Permission = "read" | "write";

export interface MintRequest {
  scope: Record<string, Filter>;
  ttl?: number;
  permission?: Permission;
}

export interface MintResponse {
  token: string;
  expires_at: string;
  scope: Record<string, Filter>;
  permission: Permission;
}

// ---- realtime (section 11) ----

export interface ListenQuery {
  collection: string;
  filter?: Filter;
  sort?: SortField[];
  limit?: number;
  select?: string[];
}

export type Change<T extends object = Record<string, Json>> =
  | { type: "added" | "modified"; id: string; document: Doc<T> }
  | { type: "removed"; id: string; reason: "deleted" | "unmatched" | "expired" };

export interface SnapshotEvent {
  queries: Record<string, Doc[]>;
}

export interface ChangesEvent {
  changes: Record<string, Change[]>;
}
