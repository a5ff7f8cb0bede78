/**
 * A small, safe ANSI parser for container logs.
 *
 * Turns a line with SGR colour codes (`ESC [ ... m`) into text segments with a style;
 * every other escape sequence (cursor moves, OSC titles/hyperlinks, charset switches)
 * and control character is stripped. The output is plain data: the UI renders each
 * segment as a text node inside a styled span, never as HTML.
 */

/** A colour: 0-255 from the xterm palette, or an `#rrggbb` string (24-bit). */
export type AnsiColor = number | string;

export interface AnsiStyle {
  fg?: AnsiColor;
  bg?: AnsiColor;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
  strike?: boolean;
}

export interface AnsiSegment {
  text: string;
  style: AnsiStyle;
}

const ESC = "\u001b";

function hex(n: number): string {
  return Math.max(0, Math.min(255, n)).toString(16).padStart(2, "0");
}

function isEmptyStyle(s: AnsiStyle): boolean {
  return Object.keys(s).length === 0;
}

function extendedColor(mode: number | undefined, args: number[]): AnsiColor | undefined {
  if (mode === 5) {
    const n = args[0];
    return n !== undefined && n >= 0 && n <= 255 ? n : undefined;
  }
  if (mode === 2 && args.length >= 3 && args.slice(0, 3).every((v) => Number.isFinite(v))) {
    return `#${hex(args[0]!)}${hex(args[1]!)}${hex(args[2]!)}`;
  }
  return undefined;
}

function num(p: string): number {
  return p === "" ? 0 : Number.parseInt(p, 10);
}

/** Applies one SGR parameter list (`1;31`, `38;5;208`, `38:2::255:0:0`, `` = reset) to a style. */
export function applySgr(style: AnsiStyle, params: string): AnsiStyle {
  const next: AnsiStyle = { ...style };
  const groups = params === "" ? ["0"] : params.split(";");
  const setColor = (which: number, color: AnsiColor | undefined) => {
    if (color === undefined) return;
    if (which === 38) next.fg = color;
    else next.bg = color;
  };
  for (let i = 0; i < groups.length; i += 1) {
    const group = groups[i]!;
    if (group.includes(":")) {
      // ITU sub-parameters: 38:5:n or 38:2:[colour-space]:r:g:b, self-contained.
      const sub = group.split(":").map(num);
      const c = sub[0];
      if (c === 38 || c === 48) {
        const mode = sub[1];
        const args = mode === 2 && sub.length >= 6 ? sub.slice(3) : sub.slice(2);
        setColor(c, extendedColor(mode, args));
      } else if (c === 4) {
        if (sub[1] === 0) delete next.underline;
        else next.underline = true;
      }
      continue;
    }
    const c = num(group);
    if (Number.isNaN(c)) continue;
    if (c === 0) {
      for (const k of Object.keys(next)) delete next[k as keyof AnsiStyle];
    } else if (c === 1) next.bold = true;
    else if (c === 2) next.dim = true;
    else if (c === 3) next.italic = true;
    else if (c === 4) next.underline = true;
    else if (c === 7) next.inverse = true;
    else if (c === 9) next.strike = true;
    else if (c === 21 || c === 22) {
      delete next.bold;
      delete next.dim;
    } else if (c === 23) delete next.italic;
    else if (c === 24) delete next.underline;
    else if (c === 27) delete next.inverse;
    else if (c === 29) delete next.strike;
    else if (c >= 30 && c <= 37) next.fg = c - 30;
    else if (c === 39) delete next.fg;
    else if (c >= 40 && c <= 47) next.bg = c - 40;
    else if (c === 49) delete next.bg;
    else if (c >= 90 && c <= 97) next.fg = c - 90 + 8;
    else if (c >= 100 && c <= 107) next.bg = c - 100 + 8;
    else if (c === 38 || c === 48) {
      const mode = num(groups[i + 1] ?? "");
      const count = mode === 5 ? 1 : mode === 2 ? 3 : 0;
      const args = groups.slice(i + 2, i + 2 + count).map(num);
      setColor(c, extendedColor(mode, args));
      i += 1 + count;
    }
    // Anything else (blink, fonts, frames, ...) is ignored.
  }
  return next;
}

/** Drops carriage-return overwrites: "10%\r20%\r30%" shows what a terminal would: "30%". */
function resolveCarriageReturns(line: string): string {
  const trimmed = line.replace(/\r+$/, "");
  const cr = trimmed.lastIndexOf("\r");
  return cr === -1 ? trimmed : trimmed.slice(cr + 1);
}

/**
 * Splits a log line into styled segments. Adjacent text with the same style is merged.
 * Tabs are kept; other C0/C1 control characters are removed.
 */
export function parseAnsi(input: string, initial: AnsiStyle = {}): AnsiSegment[] {
  const line = resolveCarriageReturns(input);
  const segments: AnsiSegment[] = [];
  let style: AnsiStyle = { ...initial };
  let text = "";

  const flush = () => {
    if (!text) return;
    const last = segments[segments.length - 1];
    if (last && sameStyle(last.style, style)) last.text += text;
    else segments.push({ text, style: { ...style } });
    text = "";
  };

  let i = 0;
  const n = line.length;
  while (i < n) {
    const ch = line[i]!;
    const code = ch.charCodeAt(0);
    if (ch === ESC || code === 0x9b) {
      const csi = ch === ESC ? line[i + 1] === "[" : true;
      if (csi) {
        // CSI: parameters 0x30-0x3F, intermediates 0x20-0x2F, final byte 0x40-0x7E.
        let j = i + (ch === ESC ? 2 : 1);
        const start = j;
        while (j < n && line.charCodeAt(j) >= 0x30 && line.charCodeAt(j) <= 0x3f) j += 1;
        const params = line.slice(start, j);
        while (j < n && line.charCodeAt(j) >= 0x20 && line.charCodeAt(j) <= 0x2f) j += 1;
        if (j >= n) {
          i = n; // truncated sequence: drop it
          break;
        }
        const final = line[j]!;
        if (final === "m" && /^[\d;:]*$/.test(params)) {
          flush();
          style = applySgr(style, params);
        }
        i = j + 1;
        continue;
      }
      const next = line[i + 1];
      if (next === "]" || next === "P" || next === "X" || next === "^" || next === "_") {
        // OSC / DCS / SOS / PM / APC: up to BEL or ST (ESC \).
        let j = i + 2;
        while (j < n && line[j] !== "\u0007" && !(line[j] === ESC && line[j + 1] === "\\")) j += 1;
        i = j >= n ? n : line[j] === "\u0007" ? j + 1 : j + 2;
        continue;
      }
      if (next !== undefined && next >= " " && next <= "/") {
        // nF escape (e.g. ESC ( B charset): intermediates then one final byte.
        let j = i + 1;
        while (j < n && line[j]! >= " " && line[j]! <= "/") j += 1;
        i = Math.min(n, j + 1);
        continue;
      }
      // Two-character escape (ESC 7, ESC =, ESC c, ...), or a lone ESC at the end.
      i += next === undefined ? 1 : 2;
      continue;
    }
    if ((code < 0x20 && ch !== "\t") || code === 0x7f || (code >= 0x80 && code < 0xa0)) {
      i += 1;
      continue;
    }
    text += ch;
    i += 1;
  }
  flush();
  return segments;
}

function sameStyle(a: AnsiStyle, b: AnsiStyle): boolean {
  const ka = Object.keys(a) as (keyof AnsiStyle)[];
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => a[k] === b[k]);
}

/** The line's text without any escape sequences (what search matches against). */
export function stripAnsi(input: string): string {
  return parseAnsi(input)
    .map((s) => s.text)
    .join("");
}

// ---------------------------------------------------------------- rendering helpers

/** The 16 base colours, tuned for the (always dark) log terminal. */
export const ANSI_PALETTE_16 = [
  "#3f3f46", // black (lifted so it shows on the dark background)
  "#f87171", // red
  "#4ade80", // green
  "#facc15", // yellow
  "#60a5fa", // blue
  "#e879f9", // magenta
  "#22d3ee", // cyan
  "#e4e4e7", // white
  "#71717a", // bright black
  "#fca5a5", // bright red
  "#86efac", // bright green
  "#fde68a", // bright yellow
  "#93c5fd", // bright blue
  "#f0abfc", // bright magenta
  "#67e8f9", // bright cyan
  "#fafafa", // bright white
] as const;

/** xterm-256 colour as `#rrggbb`. */
export function xterm256(n: number): string {
  if (n < 16) return ANSI_PALETTE_16[n]!;
  if (n < 232) {
    const i = n - 16;
    const steps = [0, 95, 135, 175, 215, 255];
    return `#${hex(steps[Math.floor(i / 36)]!)}${hex(steps[Math.floor(i / 6) % 6]!)}${hex(steps[i % 6]!)}`;
  }
  const level = 8 + (n - 232) * 10;
  return `#${hex(level)}${hex(level)}${hex(level)}`;
}

function cssColor(c: AnsiColor): string {
  return typeof c === "number" ? xterm256(c) : c;
}

/** Inline CSS for a segment style (colours are data, never markup). */
export function ansiCss(style: AnsiStyle): Record<string, string> | undefined {
  if (isEmptyStyle(style)) return undefined;
  const css: Record<string, string> = {};
  let fg = style.fg !== undefined ? cssColor(style.bold && typeof style.fg === "number" && style.fg < 8 ? style.fg + 8 : style.fg) : undefined;
  let bg = style.bg !== undefined ? cssColor(style.bg) : undefined;
  if (style.inverse) {
    [fg, bg] = [bg ?? "#09090b", fg ?? "#e4e4e7"];
  }
  if (fg) css.color = fg;
  if (bg) css.backgroundColor = bg;
  if (style.bold) css.fontWeight = "600";
  if (style.dim) css.opacity = "0.7";
  if (style.italic) css.fontStyle = "italic";
  const deco = [style.underline && "underline", style.strike && "line-through"].filter(Boolean).join(" ");
  if (deco) css.textDecoration = deco;
  return css;
}
