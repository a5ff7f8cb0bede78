import { describe, expect, it } from "vitest";
import { diffStats, parseUnifiedDiff } from "./diff";

const DIFF = `--- revision 1
+++ revision 2
@@ -1,5 +1,6 @@
 services:
   web:
-    image: nginx:1.25
+    image: nginx:1.27
+    restart: always
     ports:
---- weird removed line
@@ -10 +11 @@
-a
+b
\\ No newline at end of file
`;

describe("parseUnifiedDiff", () => {
  it("classifies file headers, hunks, additions, removals and context", () => {
    const lines = parseUnifiedDiff(DIFF);
    expect(lines.map((l) => l.kind)).toEqual([
      "file",
      "file",
      "hunk",
      "context",
      "context",
      "del",
      "add",
      "add",
      "context",
      "del",
      "hunk",
      "del",
      "add",
      "meta",
    ]);
  });

  it("numbers old and new lines from the hunk header", () => {
    const lines = parseUnifiedDiff(DIFF);
    expect(lines[3]).toMatchObject({ oldNo: 1, newNo: 1 });
    expect(lines[5]).toMatchObject({ kind: "del", oldNo: 3, newNo: null });
    expect(lines[6]).toMatchObject({ kind: "add", oldNo: null, newNo: 3 });
    expect(lines[8]).toMatchObject({ kind: "context", oldNo: 4, newNo: 5 });
    expect(lines[11]).toMatchObject({ kind: "del", oldNo: 10 });
    expect(lines[12]).toMatchObject({ kind: "add", newNo: 11 });
  });

  it("reads a removed line that starts with dashes as a removal, not a header", () => {
    const lines = parseUnifiedDiff(DIFF);
    expect(lines[9]).toMatchObject({ kind: "del", text: "---- weird removed line" });
  });

  it("counts additions and removals", () => {
    expect(diffStats(parseUnifiedDiff(DIFF))).toEqual({ added: 3, removed: 3 });
  });

  it("returns nothing for identical revisions", () => {
    expect(parseUnifiedDiff("")).toEqual([]);
  });
});
