// @mammoth/client: a typed client for Mammoth's HTTP API, with no dependency beyond `fetch`.
export { Auth, Collection, Mammoth, Tokens, etagOf } from "./client.js";
export type { GetOptions, MammothOptions, ReplaceOptions, SessionStorage, WriteOptions } from "./client.js";
export { MammothError } from "./errors.js";
export { readSse } from "./listen.js";
export type { ListenHandlers, ResumeOptions, SseEvent, Subscription } from "./listen.js";
export { compareValues, documentOrder } from "./order.js";
export type * from "./schema.js";
