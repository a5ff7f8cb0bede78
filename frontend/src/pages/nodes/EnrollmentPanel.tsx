import { AlertTriangle, ChevronRight } from "lucide-react";
import type { Enrollment } from "@/api/nodes";
import { formatDateTime, formatUtc } from "@/lib/format";
import { CopyBlock, useNow } from "./NodeBits";
import { enrollmentCommand, formatExpiry, isExpired, systemdUnit } from "./nodeFormat";

/**
 * The one-time enrollment token, the command that uses it and a systemd hint. Shown right
 * after the token was issued (node created, new token, rotation of an offline agent).
 */
export function EnrollmentPanel({ enrollment, origin = window.location.origin }: { enrollment: Enrollment; origin?: string }) {
  const now = useNow();
  const command = enrollmentCommand(enrollment, origin);
  const expires = enrollment.enrollment_expires_at;
  const expired = isExpired(expires, now);
  return (
    <div className="space-y-4" data-testid="enrollment-panel">
      <div
        role="note"
        className="flex gap-2 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-950 dark:border-amber-800/70 dark:bg-amber-950/40 dark:text-amber-100"
        data-testid="enrollment-warning"
      >
        <AlertTriangle className="mt-0.5 size-4 shrink-0 text-amber-600 dark:text-amber-400" />
        <p>
          <span className="font-semibold">Copy it now: the token is not shown again.</span> It works once
          {expires ? (
            <>
              {" "}
              and{" "}
              <span className={expired ? "font-semibold text-red-700 dark:text-red-300" : undefined} title={formatUtc(expires)} data-testid="enrollment-expiry">
                {formatExpiry(expires, now)}
              </span>{" "}
              (at {formatDateTime(expires)})
            </>
          ) : null}
          .
        </p>
      </div>
      <CopyBlock text={enrollment.enrollment_token} label="Enrollment token" copyLabel="Copy token" testId="enrollment-token" />
      <div className="space-y-1.5">
        <CopyBlock text={command} label="Run this on the node" copyLabel="Copy command" testId="enrollment-command" />
        <p className="text-xs text-muted-foreground">
          The agent dials out to this server, so nothing has to listen on the node. Change <code className="font-mono">--docker-host</code> if the engine is
          elsewhere. Later runs need no token: the credential is kept in the data dir.
        </p>
      </div>
      <details className="group rounded-md border px-3 py-2 text-sm" data-testid="enrollment-systemd">
        <summary className="flex cursor-pointer list-none items-center gap-1.5 font-medium select-none">
          <ChevronRight className="size-4 transition-transform group-open:rotate-90" /> Keep it running with systemd
        </summary>
        <div className="mt-3 space-y-2">
          <p className="text-xs text-muted-foreground">
            Run the command above once to enroll. Then save this as <code className="font-mono">/etc/systemd/system/dockyard-agent.service</code> and run{" "}
            <code className="font-mono">systemctl enable --now dockyard-agent</code>.
          </p>
          <CopyBlock text={systemdUnit(command)} label="dockyard-agent.service" testId="enrollment-unit" multiline />
        </div>
      </details>
    </div>
  );
}
