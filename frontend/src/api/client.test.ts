import { describe, expect, it } from "vitest";
import { call, filenameFromDisposition } from "./client";
import { ApiError } from "./errors";

describe("call()", () => {
  it("returns data for a successful response", async () => {
    await expect(call(Promise.resolve({ data: { a: 1 }, response: new Response(null, { status: 200 }) }))).resolves.toEqual({ a: 1 });
  });

  it("throws an ApiError built from the error body and headers", async () => {
    const response = new Response(null, { status: 423, headers: { "X-Request-ID": "rid" } });
    const error = { error: { code: "account_locked", message: "Locked.", details: { retry_after_s: 60 } } };
    const err = await call(Promise.resolve({ error, response })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 423, code: "account_locked", requestId: "rid", retryAfterS: 60 });
  });

  it("turns a rejected fetch into a network ApiError", async () => {
    const err = await call(Promise.reject(new TypeError("Failed to fetch"))).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "network", status: 0, code: "network_error" });
  });
});

describe("filenameFromDisposition", () => {
  it.each<[string | null, string]>([
    ['attachment; filename="audit-2025.csv"', "audit-2025.csv"],
    ["attachment; filename=audit.jsonl", "audit.jsonl"],
    ["attachment; filename*=UTF-8''audit%20log.csv", "audit log.csv"],
    ['attachment; filename="../../etc/passwd"', ".._.._etc_passwd"],
    [null, "fallback.csv"],
    ["inline", "fallback.csv"],
  ])("%s -> %s", (header, expected) => {
    expect(filenameFromDisposition(header, "fallback.csv")).toBe(expected);
  });
});
