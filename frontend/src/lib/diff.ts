export type DiffLineKind = "file" | "hunk" | "add" | "del" | "context" | "meta";

export interface DiffLine {
  kind: DiffLineKind;
  text: string;
  /** Line numbers in the old / new file (context, add, del lines only). */
  oldNo: number | null;
  newNo: number | null;
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/**
 * Classifies each line of a unified diff and numbers it. Hunk bodies are read by the
 * counts in their `@@` header, so a removed line that itself starts with "--" is still
 * a removal, not a file header.
 */
export function parseUnifiedDiff(diff: string): DiffLine[] {
  if (!diff) return [];
  const lines = diff.replace(/\n$/, "").split("\n");
  const out: DiffLine[] = [];
  let oldNo = 0;
  let newNo = 0;
  let oldLeft = 0;
  let newLeft = 0;
  for (const text of lines) {
    const inHunk = oldLeft > 0 || newLeft > 0;
    if (inHunk) {
      if (text.startsWith("+")) {
        out.push({ kind: "add", text, oldNo: null, newNo: newNo++ });
        newLeft -= 1;
        continue;
      }
      if (text.startsWith("-")) {
        out.push({ kind: "del", text, oldNo: oldNo++, newNo: null });
        oldLeft -= 1;
        continue;
      }
      if (text.startsWith(" ") || text === "") {
        out.push({ kind: "context", text, oldNo: oldNo++, newNo: newNo++ });
        oldLeft -= 1;
        newLeft -= 1;
        continue;
      }
    }
    if (text.startsWith("\\")) {
      out.push({ kind: "meta", text, oldNo: null, newNo: null }); // "\ No newline at end of file"
      continue;
    }
    const hunk = HUNK.exec(text);
    if (hunk) {
      oldNo = Number(hunk[1]);
      newNo = Number(hunk[3]);
      oldLeft = hunk[2] === undefined ? 1 : Number(hunk[2]);
      newLeft = hunk[4] === undefined ? 1 : Number(hunk[4]);
      out.push({ kind: "hunk", text, oldNo: null, newNo: null });
      continue;
    }
    if (text.startsWith("--- ") || text.startsWith("+++ ")) {
      out.push({ kind: "file", text, oldNo: null, newNo: null });
      continue;
    }
    out.push({ kind: "meta", text, oldNo: null, newNo: null });
  }
  return out;
}

export function diffStats(lines: readonly DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const l of lines) {
    if (l.kind === "add") added += 1;
    else if (l.kind === "del") removed += 1;
  }
  return { added, removed };
}
