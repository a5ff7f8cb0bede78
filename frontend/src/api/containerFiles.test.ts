import { describe, expect, it } from "vitest";
import { breadcrumbs, joinPath } from "./containerFiles";

describe("container file paths", () => {
  it("splits a path into breadcrumbs", () => {
    expect(breadcrumbs("/")).toEqual([["/", "/"]]);
    expect(breadcrumbs("/etc/ssl")).toEqual([
      ["/", "/"],
      ["etc", "/etc"],
      ["ssl", "/etc/ssl"],
    ]);
  });
  it("joins a folder and a name", () => {
    expect(joinPath("/", "etc")).toBe("/etc");
    expect(joinPath("/etc", "hostname")).toBe("/etc/hostname");
  });
});
