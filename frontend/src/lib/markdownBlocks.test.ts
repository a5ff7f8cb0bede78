import { describe, expect, it } from "vitest";
import { markdownBlocks } from "./markdownBlocks";

describe("markdownBlocks", () => {
  it("reads headings, wrapped paragraphs, lists and code", () => {
    const doc = "# Title\n\nStarts the server. The data\nlives in a volume.\n\n- **Port**: the host port\n  it is published on.\n- Folder\n\n```\nrun <this>\n```\n";
    expect(markdownBlocks(doc)).toEqual([
      { kind: "heading", level: 1, text: "Title" },
      { kind: "paragraph", text: "Starts the server. The data lives in a volume." },
      { kind: "list", items: ["**Port**: the host port it is published on.", "Folder"] },
      { kind: "code", text: "run <this>" },
    ]);
  });

  it("keeps HTML as text", () => {
    expect(markdownBlocks("<script>alert(1)</script>")).toEqual([{ kind: "paragraph", text: "<script>alert(1)</script>" }]);
  });
});
