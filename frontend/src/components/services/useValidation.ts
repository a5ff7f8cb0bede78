import { useEffect, useState } from "react";
import { isApiError } from "@/api/errors";
import { servicesApi } from "@/api/services";
import type { DefinitionIssue, ValidateRequest } from "@/api/types";

export type ValidationState =
  | { status: "idle"; issues: DefinitionIssue[]; definition: null }
  | { status: "checking"; issues: DefinitionIssue[]; definition: Record<string, unknown> | null }
  | { status: "valid"; issues: DefinitionIssue[]; definition: Record<string, unknown> | null }
  | { status: "invalid"; issues: DefinitionIssue[]; definition: Record<string, unknown> | null }
  | { status: "error"; issues: DefinitionIssue[]; definition: null; message: string };

/** `details.errors` of a 422 as issues (`[{path, message}]`), or null. */
export function issuesFromError(err: unknown): DefinitionIssue[] | null {
  if (!isApiError(err)) return null;
  const list = err.details?.["errors"];
  if (!Array.isArray(list)) return null;
  const issues = list
    .filter((e): e is { path: unknown; message: unknown; rule?: unknown } => typeof e === "object" && e !== null)
    .map((e) => ({
      path: typeof e.path === "string" ? e.path : "",
      message: typeof e.message === "string" ? e.message : String(e.message),
      // A refusal by the container security policy names its rule.
      ...(typeof e.rule === "string" && e.rule ? { rule: e.rule } : {}),
    }));
  return issues.length ? issues : null;
}

/**
 * Live validation through `POST /services/validate`, debounced; the newest request wins.
 * `request` null means "nothing to check yet".
 */
export function useValidation(request: ValidateRequest | null, delayMs = 450): ValidationState {
  const [state, setState] = useState<ValidationState>({ status: "idle", issues: [], definition: null });
  const key = request ? JSON.stringify(request) : "";

  useEffect(() => {
    if (!key) {
      setState({ status: "idle", issues: [], definition: null });
      return;
    }
    setState((s) => ({ status: "checking", issues: s.issues, definition: s.status === "idle" || s.status === "error" ? null : s.definition }));
    const ctrl = new AbortController();
    const t = setTimeout(() => {
      servicesApi
        .validate(JSON.parse(key) as ValidateRequest, ctrl.signal)
        .then((r) => {
          if (ctrl.signal.aborted) return;
          setState({ status: r.valid ? "valid" : "invalid", issues: r.issues, definition: r.definition });
        })
        .catch((err: unknown) => {
          if (ctrl.signal.aborted) return;
          const issues = issuesFromError(err);
          if (issues) setState({ status: "invalid", issues, definition: null });
          else setState({ status: "error", issues: [], definition: null, message: err instanceof Error ? err.message : "Validation failed" });
        });
    }, delayMs);
    return () => {
      ctrl.abort();
      clearTimeout(t);
    };
  }, [key, delayMs]);

  return state;
}
