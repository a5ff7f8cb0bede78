import { MutationCache, QueryCache, QueryClient } from "@tanstack/react-query";
import { toast } from "sonner";
import { errorToast, isApiError, isRetryable, logApiError } from "./errors";

declare module "@tanstack/react-query" {
  interface Register {
    queryMeta: { toast?: boolean | ((err: unknown) => boolean) };
    mutationMeta: { toast?: boolean | ((err: unknown) => boolean) };
  }
}

function wantsToast(meta: { toast?: boolean | ((err: unknown) => boolean) } | undefined, err: unknown): boolean {
  // 401s end in a redirect to /login (handled by the session), not a toast.
  if (isApiError(err) && err.status === 401) return false;
  const t = meta?.toast;
  if (t === undefined) return true;
  return typeof t === "function" ? t(err) : t;
}

/** Shows an API error as a toast: message, request id in small text, optional Retry. */
export function showErrorToast(err: unknown, retry?: () => void): void {
  const t = errorToast(err);
  toast.error(t.message, {
    id: t.id,
    description: t.requestId ? (
      <span className="font-mono text-[11px] opacity-80" data-testid="toast-request-id">
        Request ID: {t.requestId}
      </span>
    ) : undefined,
    action: t.retryable && retry ? { label: "Retry", onClick: retry } : undefined,
    duration: t.retryable ? 10_000 : 6_000,
  });
}

export function createQueryClient(): QueryClient {
  const client: QueryClient = new QueryClient({
    queryCache: new QueryCache({
      onError: (err, query) => {
        logApiError(err, `query ${JSON.stringify(query.queryKey)}`);
        // Background refetch failures of data already on screen: stay quiet after the first toast.
        if (!wantsToast(query.meta, err)) return;
        showErrorToast(err, () => {
          // Retry every query that is currently failing (one toast may stand for several).
          void client.refetchQueries({ predicate: (q) => q.state.status === "error" });
        });
      },
    }),
    mutationCache: new MutationCache({
      onError: (err, variables, _ctx, mutation) => {
        logApiError(err, "mutation");
        if (!wantsToast(mutation.meta, err)) return;
        showErrorToast(err, () => {
          void mutation.execute(variables).catch(() => undefined);
        });
      },
    }),
    defaultOptions: {
      queries: {
        retry: (count, err) => isRetryable(err) && count < 1,
        refetchOnWindowFocus: true,
        staleTime: 15_000,
      },
      mutations: { retry: false },
    },
  });
  return client;
}
