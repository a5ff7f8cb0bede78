import { forwardRef, useImperativeHandle, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { cn } from "@/lib/utils";

export interface CodeEditorHandle {
  /** Focuses the editor and selects line `line` (1-based), scrolling it into view. */
  jumpTo: (line: number) => void;
  focus: () => void;
}

export interface CodeEditorProps {
  value: string;
  onChange: (value: string) => void;
  /** Problems by 1-based line number (shown in the gutter and as a band behind the line). */
  lineIssues?: ReadonlyMap<number, string[]>;
  id?: string;
  label: string;
  placeholder?: string;
  readOnly?: boolean;
  className?: string;
  testId?: string;
  describedBy?: string;
}

const LINE_HEIGHT = 20;
const INDENT = "  ";

/** Replaces the selection with `text` keeping the browser's undo history when possible. */
function insertText(el: HTMLTextAreaElement, text: string, onChange: (v: string) => void) {
  el.focus();
  // execCommand keeps Ctrl+Z working; it is deprecated but still the only way to do that.
  const ok = typeof document.execCommand === "function" && document.execCommand("insertText", false, text);
  if (!ok) {
    el.setRangeText(text, el.selectionStart, el.selectionEnd, "end");
    onChange(el.value);
  }
}

/**
 * A plain `<textarea>` made pleasant for YAML: monospace, line numbers, Tab / Shift+Tab
 * indent by two spaces, Enter keeps the indentation. Esc then Tab leaves the editor
 * (so keyboard users are never trapped).
 */
export const CodeEditor = forwardRef<CodeEditorHandle, CodeEditorProps>(function CodeEditor(
  { value, onChange, lineIssues, id, label, placeholder, readOnly = false, className, testId, describedBy },
  ref,
) {
  const textareaRef = useRef<HTMLTextAreaElement>(null);
  const [scroll, setScroll] = useState({ top: 0, left: 0 });
  const escaped = useRef(false);
  const lineCount = useMemo(() => {
    let n = 1;
    for (let i = 0; i < value.length; i += 1) if (value.charCodeAt(i) === 10) n += 1;
    return n;
  }, [value]);
  const gutterWidth = `${Math.max(2, String(lineCount).length) + 2}ch`;

  useImperativeHandle(ref, () => ({
    focus: () => textareaRef.current?.focus(),
    jumpTo: (line: number) => {
      const el = textareaRef.current;
      if (!el) return;
      const lines = el.value.split("\n");
      const target = Math.min(Math.max(1, line), lines.length);
      let start = 0;
      for (let i = 0; i < target - 1; i += 1) start += lines[i]!.length + 1;
      const end = start + lines[target - 1]!.length;
      el.focus();
      el.setSelectionRange(start, end);
      el.scrollTop = Math.max(0, (target - 1) * LINE_HEIGHT - el.clientHeight / 3);
    },
  }));

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    const el = e.currentTarget;
    if (readOnly) return;
    if (e.key === "Escape") {
      escaped.current = true;
      return;
    }
    if (e.key === "Tab" && !escaped.current && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      const { selectionStart: s, selectionEnd: t, value: v } = el;
      const lineStart = v.lastIndexOf("\n", s - 1) + 1;
      const multi = v.slice(s, t).includes("\n");
      if (!e.shiftKey && !multi) {
        insertText(el, INDENT, onChange);
      } else {
        // Indent / outdent every selected line.
        const endNl = v.indexOf("\n", t - (t > s && v[t - 1] === "\n" ? 1 : 0));
        const blockEnd = endNl === -1 ? v.length : endNl;
        const block = v.slice(lineStart, blockEnd);
        const next = block
          .split("\n")
          .map((l) => (e.shiftKey ? l.replace(/^ {1,2}/, "") : INDENT + l))
          .join("\n");
        el.setSelectionRange(lineStart, blockEnd);
        insertText(el, next, onChange);
        el.setSelectionRange(lineStart, lineStart + next.length);
      }
      return;
    }
    escaped.current = false;
    if (e.key === "Enter" && !e.shiftKey && !e.ctrlKey && !e.metaKey && !e.altKey && !e.nativeEvent.isComposing) {
      const { selectionStart: s, value: v } = el;
      const lineStart = v.lastIndexOf("\n", s - 1) + 1;
      const line = v.slice(lineStart, s);
      const indent = /^[ ]*/.exec(line)![0];
      // A list item or mapping key that opens a block gets one more level.
      const extra = /:\s*$/.test(line) ? INDENT : "";
      if (indent || extra) {
        e.preventDefault();
        insertText(el, `\n${indent}${extra}`, onChange);
      }
    }
  };

  const issueLines = lineIssues ? [...lineIssues.keys()] : [];

  return (
    <div
      className={cn(
        "relative flex min-h-0 overflow-hidden rounded-md border border-input bg-card font-mono text-[13px] shadow-xs focus-within:border-ring focus-within:ring-2 focus-within:ring-ring/30",
        className,
      )}
    >
      {/* Line numbers, moved with the textarea's scroll. */}
      <div
        aria-hidden
        className="relative shrink-0 overflow-hidden border-r bg-muted/50 text-right text-muted-foreground/80 select-none"
        style={{ width: gutterWidth }}
      >
        <div className="py-2 pr-2" style={{ transform: `translateY(${-scroll.top}px)`, lineHeight: `${LINE_HEIGHT}px` }}>
          {Array.from({ length: lineCount }, (_, i) => {
            const problems = lineIssues?.get(i + 1);
            return (
              <div
                key={i}
                className={cn(problems && "bg-red-500/15 font-semibold text-red-600 dark:text-red-400")}
                title={problems?.join("\n")}
              >
                {i + 1}
              </div>
            );
          })}
        </div>
      </div>
      <div className="relative min-w-0 flex-1">
        {/* Bands behind lines with problems. */}
        <div aria-hidden className="pointer-events-none absolute inset-0 overflow-hidden">
          <div className="relative" style={{ transform: `translateY(${-scroll.top}px)` }}>
            {issueLines.map((line) => (
              <div
                key={line}
                className="absolute inset-x-0 border-y border-red-500/20 bg-red-500/10"
                style={{ top: 8 + (line - 1) * LINE_HEIGHT, height: LINE_HEIGHT }}
              />
            ))}
          </div>
        </div>
        <textarea
          ref={textareaRef}
          id={id}
          aria-label={label}
          aria-describedby={describedBy}
          aria-invalid={issueLines.length > 0 || undefined}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          onKeyDown={onKeyDown}
          onScroll={(e) => setScroll({ top: e.currentTarget.scrollTop, left: e.currentTarget.scrollLeft })}
          placeholder={placeholder}
          readOnly={readOnly}
          wrap="off"
          spellCheck={false}
          autoCapitalize="off"
          autoComplete="off"
          autoCorrect="off"
          data-gramm="false"
          data-testid={testId}
          className="relative block h-full w-full resize-none overflow-auto bg-transparent px-3 py-2 whitespace-pre text-foreground outline-none placeholder:text-muted-foreground/70"
          style={{ lineHeight: `${LINE_HEIGHT}px`, tabSize: 2 }}
        />
      </div>
    </div>
  );
});
