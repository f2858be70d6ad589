import type { ErrorBody, ErrorCode } from "./schema.js";

/** Every failure the client reports: the contract's error (section 3) with its HTTP status. */
export class MammothError extends Error {
  /** The contract's snake_case code, or `network` when no HTTP answer arrived. */
  readonly code: ErrorCode;
  /** The HTTP status; 0 for `network`. */
  readonly status: number;
  /** For `POST /v1/batch`: the index of the op that failed. */
  readonly op?: number;
  /** Seconds from `Retry-After` (429, 503), when the server sent it. */
  readonly retryAfter?: number;

  constructor(
    code: ErrorCode,
    status: number,
    message: string,
    extra: { op?: number; retryAfter?: number; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = "MammothError";
    this.code = code;
    this.status = status;
    if (extra.op !== undefined) this.op = extra.op;
    if (extra.retryAfter !== undefined) this.retryAfter = extra.retryAfter;
  }

  /** Builds the error from a non-2xx response (its JSON body when it has the contract's shape). */
  static async from(response: Response): Promise<MammothError> {
    const retry = response.headers.get("retry-after");
    const retryAfter = retry !== null && /^\d+$/.test(retry.trim()) ? Number(retry) : undefined;
    let text = "";
    try {
      text = await response.text();
    } catch {
      // A body that cannot be read still leaves the status.
    }
    const parsed = parseError(text);
    if (parsed) {
      return new MammothError(parsed.code, response.status, parsed.message, {
        op: parsed.op,
        retryAfter,
      });
    }
    return new MammothError(
      fallbackCode(response.status),
      response.status,
      text || `HTTP ${response.status}`,
      { retryAfter },
    );
  }
}

/** The `error` object of an error body, when `text` is one. */
export function parseError(text: string): ErrorBody["error"] | undefined {
  try {
    const body = JSON.parse(text) as Partial<ErrorBody>;
    const e = body?.error;
    if (e && typeof e.code === "string" && typeof e.message === "string") return e;
  } catch {
    // Not JSON.
  }
  return undefined;
}

function fallbackCode(status: number): ErrorCode {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 412:
      return "precondition_failed";
    case 413:
      return "payload_too_large";
    case 429:
      return "rate_limited";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal" : "bad_request";
  }
}
