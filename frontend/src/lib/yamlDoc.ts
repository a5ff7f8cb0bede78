/**
 * Compose YAML in the editor: parse with positions, find the line of an issue path, and
 * apply form edits to the document in place so comments and untouched formatting stay.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from "yaml";

export interface YamlProblem {
  line: number | null;
  message: string;
}

export interface ParsedYaml {
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** Syntax errors (the document can't be used when there are any). */
  errors: YamlProblem[];
  /** The plain value (null when there are errors). */
  value: unknown;
}

export function parseYaml(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: true });
  const errors = doc.errors.map((e) => ({
    line: e.pos ? lineCounter.linePos(e.pos[0]).line : null,
    message: e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, ""),
  }));
  let value: unknown = null;
  if (errors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      errors.push({ line: null, message: err instanceof Error ? err.message : "cannot read the document" });
    }
  }
  return { doc, lineCounter, errors, value };
}

type Positioned = { range?: [number, number, number] | null };

function startOf(node: unknown): number | null {
  const r = (node as Positioned | null)?.range;
  return r ? r[0] : null;
}

/**
 * The 1-based line an issue path like `services.web.ports.0` refers to: the deepest
 * node of the path that exists (keys may themselves contain dots, e.g. env names).
 */
export function lineForPath(parsed: Pick<ParsedYaml, "doc" | "lineCounter">, path: string): number | null {
  const tokens = path ? path.split(".") : [];
  let node: unknown = parsed.doc.contents;
  let pos: number | null = startOf(node);
  let i = 0;
  while (i < tokens.length && node) {
    if (isMap(node)) {
      const map = node;
      let matched = false;
      for (let j = tokens.length; j > i && !matched; j -= 1) {
        const key = tokens.slice(i, j).join(".");
        const pair = map.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
        if (pair) {
          pos = startOf(pair.key) ?? pos;
          node = pair.value;
          i = j;
          matched = true;
        }
      }
      if (!matched) break;
    } else if (isSeq(node)) {
      const idx = Number(tokens[i]);
      if (!Number.isInteger(idx)) break;
      const item = node.items[idx];
      if (item === undefined) break;
      pos = startOf(item) ?? pos;
      node = item;
      i += 1;
    } else {
      break;
    }
  }
  return pos === null ? null : parsed.lineCounter.linePos(pos).line;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Keys written in flow style (`command: [a, b]`) when the form sets them. */
const FLOW_KEYS = new Set(["command", "entrypoint"]);

/**
 * Applies the changed top-level keys of one compose service to the YAML text.
 * Keys whose value did not change are not touched (their formatting and comments stay).
 */
export function applyServiceEdit(text: string, serviceKey: string, next: Record<string, unknown>, prev: Record<string, unknown>): string {
  const { doc, errors } = parseYaml(text);
  if (errors.length) throw new Error("The YAML has errors; fix them before using the form.");
  const path = ["services", serviceKey];
  for (const key of Object.keys(prev)) {
    if (!(key in next)) doc.deleteIn([...path, key]);
  }
  for (const [key, value] of Object.entries(next)) {
    if (key in prev && sameJson(prev[key], value)) continue;
    const existing = doc.getIn([...path, key], true);
    if (isScalar(existing) && value !== null && ["string", "number", "boolean"].includes(typeof value)) {
      existing.value = value; // keeps the line's comment
      continue;
    }
    const node = doc.createNode(value, { flow: FLOW_KEYS.has(key) }) as YamlNode;
    doc.setIn([...path, key], node);
  }
  return doc.toString({ lineWidth: 0 });
}

/** Service keys in document order. */
export function serviceKeys(value: unknown): string[] {
  if (!isPlainObject(value) || !isPlainObject(value.services)) return [];
  return Object.keys(value.services);
}

export function serviceSpec(value: unknown, key: string): Record<string, unknown> {
  if (!isPlainObject(value) || !isPlainObject(value.services)) return {};
  const spec = value.services[key];
  return isPlainObject(spec) ? spec : {};
}

/** A definition object as YAML (e.g. when the server's export is not available). */
export function definitionToYaml(definition: unknown): string {
  const doc = parseDocument("");
  doc.contents = doc.createNode(definition) as never;
  return doc.toString({ lineWidth: 0 });
}
