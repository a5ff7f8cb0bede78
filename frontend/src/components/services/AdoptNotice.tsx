import { TriangleAlert, X } from "lucide-react";
import { useState } from "react";
import { useLocation, useNavigate } from "react-router";
import { adoptNoticeFromState } from "@/lib/adopt";

const SHOWN = 6;

/**
 * What an adoption could not carry over (`AdoptResult.warnings`), shown on the new
 * service's page right after adopting. The warnings come in the router's location state,
 * so they are read once and survive tab switches; dismissing clears them from history.
 */
export function AdoptNotice() {
  const location = useLocation();
  const navigate = useNavigate();
  const [notice, setNotice] = useState(() => adoptNoticeFromState(location.state));
  const [expanded, setExpanded] = useState(false);
  if (!notice) return null;

  const dismiss = () => {
    setNotice(null);
    void navigate({ pathname: location.pathname, search: location.search }, { replace: true, state: null });
  };
  const { warnings, from } = notice;
  const shown = expanded ? warnings : warnings.slice(0, SHOWN);

  return (
    <section
      className="relative mb-5 rounded-lg border border-amber-200 bg-amber-50/70 p-4 pr-11 text-sm dark:border-amber-900/70 dark:bg-amber-950/30"
      aria-label="Adoption notes"
      data-testid="adopt-warnings"
    >
      <button
        type="button"
        onClick={dismiss}
        className="absolute top-2.5 right-2.5 cursor-pointer rounded-md p-1.5 text-muted-foreground transition-colors outline-none hover:bg-amber-100 hover:text-foreground focus-visible:ring-2 focus-visible:ring-ring dark:hover:bg-amber-900/40"
        aria-label="Dismiss adoption notes"
        data-testid="adopt-warnings-dismiss"
      >
        <X className="size-4" />
      </button>
      <div className="flex gap-2.5">
        <TriangleAlert className="mt-0.5 size-4 shrink-0 text-amber-600 dark:text-amber-400" aria-hidden />
        <div className="min-w-0 space-y-1.5">
          <p className="font-medium">
            Adopted{from ? ` ${from}` : ""}, with {warnings.length} note{warnings.length === 1 ? "" : "s"}
          </p>
          <p className="text-xs text-muted-foreground">
            The deploy is replacing the containers now. Check these in the definition; edit and redeploy if something matters.
          </p>
          <ul className="list-disc space-y-0.5 pl-4 break-words">
            {shown.map((w, i) => (
              <li key={i} data-testid="adopt-warning">
                {w}
              </li>
            ))}
          </ul>
          {warnings.length > SHOWN && (
            <button
              type="button"
              className="cursor-pointer text-xs font-medium text-primary hover:underline"
              aria-expanded={expanded}
              onClick={() => setExpanded((v) => !v)}
            >
              {expanded ? "Show fewer" : `Show all ${warnings.length}`}
            </button>
          )}
        </div>
      </div>
    </section>
  );
}
