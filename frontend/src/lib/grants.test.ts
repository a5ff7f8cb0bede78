import { describe, expect, it } from "vitest";
import { grantBody, grantScopeText } from "./grants";

describe("grants", () => {
  it("reads a grant's scope", () => {
    expect(grantScopeText({ scope_type: "global", scope_id: null, scope_name: null })).toBe("everything");
    expect(grantScopeText({ scope_type: "node", scope_id: 1, scope_name: "local" })).toBe("node local");
    expect(grantScopeText({ scope_type: "service", scope_id: 12, scope_name: null })).toBe("service #12 (deleted)");
    expect(grantScopeText({ scope_type: "cluster", scope_id: 3, scope_name: null })).toBe("cluster #3");
  });

  it("builds the body, or says what is missing", () => {
    expect(grantBody("viewer", "global", "5")).toEqual({ body: { role: "viewer", scope_type: "global", scope_id: null } });
    expect(grantBody("operator", "node", "2")).toEqual({ body: { role: "operator", scope_type: "node", scope_id: 2 } });
    expect(grantBody("operator", "service", "")).toEqual({ error: "Choose a service." });
    expect(grantBody("", "node", "2")).toEqual({ error: "Choose a role." });
  });
});
