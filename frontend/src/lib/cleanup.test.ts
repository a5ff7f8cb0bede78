import { describe, expect, it } from "vitest";
import type { CleanupItem } from "@/api/images";
import { groupByTarget, imageName, imageRemoveRef, planSummary, referenceProblem, resultSummary } from "./cleanup";

const item = (target: CleanupItem["target"], size: number | null, id = Math.random().toString(36)): CleanupItem => ({
  target,
  kind: target === "unused_volumes" ? "volume" : "image",
  id,
  name: id,
  size_bytes: size,
});

describe("groupByTarget", () => {
  it("groups in dialog order with byte totals and drops empty groups", () => {
    const groups = groupByTarget([item("unused_volumes", 100), item("dangling_images", 2048), item("dangling_images", null)]);
    expect(groups.map((g) => [g.target, g.items.length, g.bytes])).toEqual([
      ["dangling_images", 2, 2048],
      ["unused_volumes", 1, 100],
    ]);
  });
});

describe("summaries", () => {
  it("summarizes a plan", () => {
    expect(planSummary(0, 0)).toBe("Nothing to remove");
    expect(planSummary(1, 512)).toBe("1 item · 512 B reclaimable");
    expect(planSummary(3, 3 * 1024 * 1024)).toBe("3 items · 3.0 MiB reclaimable");
  });
  it("summarizes a result", () => {
    expect(resultSummary({ removed: 4, skipped: 1, failed: 0, reclaimed_bytes: 2048 })).toBe("Removed 4, skipped 1 · 2.0 KiB reclaimed");
    expect(resultSummary({ removed: 0, skipped: 0, failed: 2, reclaimed_bytes: 0 })).toBe("Removed 0, failed 2 · 0 B reclaimed");
  });
});

describe("images", () => {
  it("names and removal references", () => {
    expect(imageName({ repo_tags: [] })).toBe("<none>");
    expect(imageName({ repo_tags: ["a:1", "b:2"] })).toBe("a:1");
    expect(imageRemoveRef({ repo_tags: ["a:1"], id: "sha256:x" })).toBe("a:1");
    expect(imageRemoveRef({ repo_tags: ["a:1", "b:2"], id: "sha256:x" })).toBe("sha256:x");
    expect(imageRemoveRef({ repo_tags: [], id: "sha256:x" })).toBe("sha256:x");
  });
  it("checks references like the server", () => {
    expect(referenceProblem("nginx:1.27")).toBeNull();
    expect(referenceProblem("127.0.0.1:5000/dockyard-test/app:1")).toBeNull();
    expect(referenceProblem("Reg.example.com/team/app")).toBeNull();
    expect(referenceProblem("")).toBe("Enter an image reference");
    expect(referenceProblem("busy box")).toBe("No spaces allowed");
    expect(referenceProblem("Team/App:1")).toBe("The repository name must be lowercase");
    expect(referenceProblem("app:-bad")).toBe("Invalid tag");
  });
});
