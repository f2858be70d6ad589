// The contract's total order of values (CONTRACT section 7), so a listener keeps its documents in
// the query's sort as changes arrive: missing < null < false < true < numbers < strings < arrays <
// objects; strings by UTF-8 bytes (the same as by code points); arrays element by element; objects
// entry by entry in key order (keys first, then values); ties by `id` ascending.

import type { Json, SortField } from "./schema.js";

const MISSING = Symbol("missing");
type Slot = Json | typeof MISSING;

function rank(v: Slot): number {
  if (v === MISSING) return 0;
  if (v === null) return 1;
  if (v === false) return 2;
  if (v === true) return 3;
  if (typeof v === "number") return 4;
  if (typeof v === "string") return 5;
  if (Array.isArray(v)) return 6;
  return 7;
}

function compareStrings(a: string, b: string): number {
  // Code point order equals UTF-8 byte order; UTF-16 code unit order does not.
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

export function compareValues(a: Slot, b: Slot): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (typeof a === "number" && typeof b === "number") return a === b ? 0 : a < b ? -1 : 1;
  if (typeof a === "string" && typeof b === "string") return compareStrings(a, b);
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = compareValues(a[i]!, b[i]!);
      if (c !== 0) return c;
    }
    return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
  }
  if (ra === 7) {
    const oa = a as Record<string, Json>;
    const ob = b as Record<string, Json>;
    const ka = Object.keys(oa).sort(compareStrings);
    const kb = Object.keys(ob).sort(compareStrings);
    for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
      const ck = compareStrings(ka[i]!, kb[i]!);
      if (ck !== 0) return ck;
      const cv = compareValues(oa[ka[i]!]!, ob[kb[i]!]!);
      if (cv !== 0) return cv;
    }
    return ka.length === kb.length ? 0 : ka.length < kb.length ? -1 : 1;
  }
  return 0;
}

/** The value at a dotted field path, or MISSING. */
function at(doc: Record<string, unknown>, path: string): Slot {
  let v: unknown = doc;
  for (const part of path.split(".")) {
    if (v === null || typeof v !== "object" || Array.isArray(v) || !(part in (v as object))) {
      return MISSING;
    }
    v = (v as Record<string, unknown>)[part];
  }
  return v as Json;
}

/** A comparator of documents in `sort`, ties broken by `id` ascending. */
export function documentOrder(
  sort: SortField[] | null | undefined,
): (a: { id: string }, b: { id: string }) => number {
  const fields = sort ?? [];
  return (a, b) => {
    for (const { field, order } of fields) {
      const c = compareValues(
        at(a as Record<string, unknown>, field),
        at(b as Record<string, unknown>, field),
      );
      if (c !== 0) return order === "desc" ? -c : c;
    }
    return compareStrings(a.id, b.id);
  };
}
