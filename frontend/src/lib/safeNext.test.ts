import { describe, expect, it } from "vitest";
import { loginPath, safeNext } from "./safeNext";

describe("safeNext", () => {
  it.each([
    ["/audit?action=auth.", "/audit?action=auth."],
    ["/nodes/1#engine", "/nodes/1#engine"],
    [null, "/"],
    ["", "/"],
    ["https://evil.example/", "/"],
    ["//evil.example/x", "/"],
    ["/\\evil.example", "/"],
    ["javascript:alert(1)", "/"],
    ["/login?next=/x", "/"],
    ["audit", "/"],
  ])("%s -> %s", (input, expected) => {
    expect(safeNext(input)).toBe(expected);
  });
});

describe("loginPath", () => {
  it("encodes the current location as next", () => {
    expect(loginPath("/audit?outcome=failure")).toBe("/login?next=%2Faudit%3Foutcome%3Dfailure");
    expect(loginPath("/")).toBe("/login");
    expect(loginPath("/login?next=/x")).toBe("/login");
  });
});
