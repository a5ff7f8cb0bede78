import { AlertCircle, CheckCircle2, Loader2, WifiOff } from "lucide-react";
import type { DefinitionIssue } from "@/api/types";
import { cn } from "@/lib/utils";
import type { ValidationState } from "./useValidation";

export interface LocatedIssue extends DefinitionIssue {
  line?: number | null;
}

/** One-line validation status for a toolbar. */
export function ValidationStatus({ state, className }: { state: ValidationState; className?: string }) {
  const base = cn("inline-flex items-center gap-1.5 text-xs", className);
  switch (state.status) {
    case "checking":
      return (
        <span className={cn(base, "text-muted-foreground")} role="status">
          <Loader2 className="size-3.5 animate-spin" /> Checking…
        </span>
      );
    case "valid":
      return (
        <span className={cn(base, "text-emerald-700 dark:text-emerald-400")} role="status" data-testid="validation-ok">
          <CheckCircle2 className="size-3.5" /> Valid
        </span>
      );
    case "invalid":
      return (
        <span className={cn(base, "text-red-700 dark:text-red-400")} role="status">
          <AlertCircle className="size-3.5" /> {state.issues.length} problem{state.issues.length === 1 ? "" : "s"}
        </span>
      );
    case "error":
      return (
        <span className={cn(base, "text-muted-foreground")} role="status" title={state.message}>
          <WifiOff className="size-3.5" /> Couldn't check
        </span>
      );
    default:
      return null;
  }
}

/** The default title: refusals of the container security policy (they carry a rule) say so. */
export function issueListTitle(issues: readonly LocatedIssue[]): string {
  return issues.length > 0 && issues.every((i) => i.rule) ? "Not allowed for your account" : "Problems";
}

/** The problems of a definition, by path (and line, in the YAML editor). Click to jump. */
export function IssueList({
  issues,
  onSelect,
  className,
  title: titleProp,
}: {
  issues: readonly LocatedIssue[];
  onSelect?: (issue: LocatedIssue) => void;
  className?: string;
  title?: string;
}) {
  if (issues.length === 0) return null;
  const title = titleProp ?? issueListTitle(issues);
  return (
    <div
      className={cn("rounded-md border border-red-200 bg-red-50/70 dark:border-red-900/60 dark:bg-red-950/30", className)}
      data-testid="validation-issues"
      role="region"
      aria-label={title}
    >
      <p className="flex items-center gap-1.5 border-b border-red-200 px-3 py-2 text-xs font-semibold text-red-800 dark:border-red-900/60 dark:text-red-300">
        <AlertCircle className="size-3.5" /> {title} ({issues.length})
      </p>
      <ul className="max-h-56 divide-y divide-red-100 overflow-y-auto dark:divide-red-900/40">
        {issues.map((issue, i) => {
          const body = (
            <>
              {issue.line != null && <span className="w-12 shrink-0 font-mono text-[11px] text-red-700/80 dark:text-red-300/70">L{issue.line}</span>}
              <span className="min-w-0">
                {issue.path && <code className="mr-1.5 rounded bg-red-100 px-1 py-0.5 font-mono text-[11.5px] text-red-900 dark:bg-red-900/40 dark:text-red-200">{issue.path}</code>}
                <span className="text-red-900 dark:text-red-100">{issue.message}</span>
                {issue.rule && (
                  <span className="ml-1.5 rounded border border-red-200 px-1 py-px font-mono text-[11px] whitespace-nowrap text-red-700 dark:border-red-900/60 dark:text-red-300" title="The security policy rule" data-testid="issue-rule">
                    rule: {issue.rule}
                  </span>
                )}
              </span>
            </>
          );
          return (
            <li key={`${issue.path}-${i}`} data-testid="validation-issue">
              {onSelect ? (
                <button
                  type="button"
                  className="flex w-full cursor-pointer items-baseline gap-2 px-3 py-1.5 text-left text-sm outline-none hover:bg-red-100/60 focus-visible:bg-red-100/60 dark:hover:bg-red-900/30 dark:focus-visible:bg-red-900/30"
                  onClick={() => onSelect(issue)}
                >
                  {body}
                </button>
              ) : (
                <div className="flex items-baseline gap-2 px-3 py-1.5 text-sm">{body}</div>
              )}
            </li>
          );
        })}
      </ul>
    </div>
  );
}
