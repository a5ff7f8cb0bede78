import { describe, expect, it } from "vitest";
import { hasPermission } from "./permissions";
import { visibleNavGroups } from "@/components/layout/nav";

describe("permissions", () => {
  it("checks membership and treats unknown as denied", () => {
    expect(hasPermission(["users:read"], "users:read")).toBe(true);
    expect(hasPermission(["users:read"], "users:manage")).toBe(false);
    expect(hasPermission(undefined, "users:read")).toBe(false);
  });

  it("hides admin navigation from users lacking the permission", () => {
    const keys = (perms: string[]) => visibleNavGroups(perms).flatMap((g) => g.items.map((i) => i.key));
    expect(keys(["services:read", "audit:read", "users:read", "roles:read"])).toEqual(
      expect.arrayContaining(["users", "roles", "audit"]),
    );
    const tenant = keys(["services:read", "nodes:read"]);
    expect(tenant).not.toContain("users");
    expect(tenant).not.toContain("roles");
    expect(tenant).not.toContain("audit");
    expect(tenant).toContain("services");
  });
});
