import { describe, expect, it } from "vitest";
import { ApiError } from "@/api/errors";
import {
  adoptBlocked,
  adoptErrorInline,
  adoptErrorView,
  adoptNoticeFromState,
  buildAdoptRequest,
  containerStateTone,
  initialAdoptName,
  pruneSelection,
  serviceNameProblem,
  SERVICE_NAME_RE,
  stateSummary,
  suggestServiceName,
  type AdoptTarget,
} from "./adopt";

const project: AdoptTarget = {
  kind: "project",
  project: "shop",
  containers: [
    { id: "a".repeat(64), name: "shop_web_1" },
    { id: "b".repeat(64), name: "shop_db_1" },
  ],
};
const loose: AdoptTarget = {
  kind: "containers",
  containers: [
    { id: "c1", name: "Legacy.App" },
    { id: "c2", name: "legacy-cache" },
  ],
};

function apiError(status: number, code: string, errors?: { path: string; message: string }[]) {
  return new ApiError({ kind: "http", status, code, message: "m", details: errors ? { errors } : null });
}

describe("service names", () => {
  it("follows the server's rule", () => {
    for (const ok of ["a", "0", "shop", "shop-web", "shop_web_2", "x".repeat(63)]) {
      expect(SERVICE_NAME_RE.test(ok)).toBe(true);
      expect(serviceNameProblem(ok)).toBeNull();
    }
    for (const bad of ["-shop", "_shop", "Shop", "shop web", "shop.web", "shöp", "shop/", " shop"]) {
      expect(SERVICE_NAME_RE.test(bad)).toBe(false);
      expect(serviceNameProblem(bad)).toMatch(/lower-case/i);
    }
    expect(serviceNameProblem("x".repeat(64))).toBe("At most 63 characters.");
    // Empty is "not yet typed", not an error (submit stays disabled).
    expect(serviceNameProblem("")).toBeNull();
  });

  it("suggests a valid name from any text", () => {
    expect(suggestServiceName("Legacy.App")).toBe("legacy-app");
    expect(suggestServiceName("__my app__")).toBe("my-app");
    expect(suggestServiceName("web")).toBe("web");
    expect(suggestServiceName("...")).toBe("adopted");
    const long = suggestServiceName(`${"a".repeat(62)}-b`);
    expect(long).toHaveLength(62);
    expect(SERVICE_NAME_RE.test(long)).toBe(true);
  });

  it("starts with the project's name, or the first container's", () => {
    expect(initialAdoptName(project)).toBe("shop");
    expect(initialAdoptName(loose)).toBe("legacy-app");
    expect(initialAdoptName({ kind: "containers", containers: [{ id: "x", name: "/api" }] })).toBe("api");
  });

  it("blocks submitting an empty or invalid name, or nothing to adopt", () => {
    expect(adoptBlocked(project, "shop")).toBe(false);
    expect(adoptBlocked(project, "")).toBe(true);
    expect(adoptBlocked(project, "Shop")).toBe(true);
    expect(adoptBlocked({ kind: "containers", containers: [] }, "x")).toBe(true);
  });
});

describe("buildAdoptRequest", () => {
  it("adopts a project by name, on the chosen node", () => {
    expect(buildAdoptRequest(project, { nodeId: 3, name: "shop", description: "" })).toEqual({ project: "shop", name: "shop", node_id: 3 });
  });

  it("sends a renamed project and a trimmed description", () => {
    expect(buildAdoptRequest(project, { nodeId: 1, name: "store", description: "  The shop  " })).toEqual({
      project: "shop",
      name: "store",
      node_id: 1,
      description: "The shop",
    });
  });

  it("leaves the node out when none is known (the server picks the local one)", () => {
    expect(buildAdoptRequest(project, { nodeId: null, name: "shop", description: "" })).toEqual({ project: "shop", name: "shop" });
  });

  it("adopts containers by id under the given name, without a project", () => {
    const body = buildAdoptRequest(
      { kind: "containers", containers: [...loose.containers, { id: "c1", name: "Legacy.App" }] },
      { nodeId: 2, name: "legacy", description: "" },
    );
    expect(body).toEqual({ container_ids: ["c1", "c2"], name: "legacy", node_id: 2 });
    expect(body).not.toHaveProperty("project");
  });
});

describe("adopt errors", () => {
  it("puts 422 name errors (body.name or name) on the field", () => {
    const view = adoptErrorView(apiError(422, "validation_error", [{ path: "body.name", message: "must be 1-63 characters" }]));
    expect(view).toEqual({ name: ["must be 1-63 characters"], other: [], stale: false });
    expect(adoptErrorInline(apiError(422, "validation_error", [{ path: "name", message: "bad" }]))).toBe(true);
  });

  it("shows other 422 paths inline without the body. prefix", () => {
    const view = adoptErrorView(apiError(422, "validation_error", [{ path: "body.container_ids.0", message: "not a container id" }]));
    expect(view?.other).toEqual(["container_ids.0: not a container id"]);
  });

  it("explains an existing service on the name field", () => {
    const message = "A service with this name already exists on this node.";
    expect(adoptErrorView(apiError(409, "service_exists", [{ path: "name", message: "already exists on this node" }]))?.name).toEqual([message]);
    expect(adoptErrorView(apiError(409, "service_exists"))?.name).toEqual([message]);
  });

  it("treats gone or taken containers as a stale list (toast, refresh)", () => {
    for (const [status, code] of [
      [404, "project_not_found"],
      [404, "container_not_found"],
      [409, "already_managed"],
    ] as const) {
      const err = apiError(status, code, [{ path: "body.project", message: "no such project" }]);
      expect(adoptErrorView(err)).toEqual({ name: [], other: [], stale: true });
      expect(adoptErrorInline(err)).toBe(false);
    }
  });

  it("leaves the rest to the error toast", () => {
    expect(adoptErrorView(apiError(409, "adoption_pending"))).toBeNull();
    expect(adoptErrorView(apiError(500, "internal_error"))).toBeNull();
    expect(adoptErrorView(new Error("boom"))).toBeNull();
    expect(adoptErrorInline(apiError(409, "adoption_pending"))).toBe(false);
  });
});

describe("listing helpers", () => {
  it("tones container states", () => {
    expect(containerStateTone("running")).toBe("success");
    expect(containerStateTone("paused")).toBe("warning");
    expect(containerStateTone("restarting")).toBe("warning");
    expect(containerStateTone("dead")).toBe("danger");
    expect(containerStateTone("exited")).toBe("neutral");
    expect(containerStateTone("created")).toBe("neutral");
  });

  it("summarises states, running first", () => {
    expect(stateSummary(["exited", "running", "running"])).toBe("2 running · 1 exited");
    expect(stateSummary([])).toBe("");
  });

  it("drops selected ids that are no longer listed", () => {
    expect([...pruneSelection(new Set(["a", "b"]), [{ id: "b" }, { id: "c" }])]).toEqual(["b"]);
  });

  it("reads the adoption notes from the location state", () => {
    expect(adoptNoticeFromState({ adoptWarnings: ["x", 3, "y"], adoptedFrom: "compose project shop" })).toEqual({
      warnings: ["x", "y"],
      from: "compose project shop",
    });
    expect(adoptNoticeFromState({ adoptWarnings: [] })).toBeNull();
    expect(adoptNoticeFromState(null)).toBeNull();
    expect(adoptNoticeFromState("nope")).toBeNull();
  });
});
