import { PlugZap } from "lucide-react";
import type { Node } from "@/api/types";
import { formatRelative, formatUtc } from "@/lib/format";

/** Banner for a node whose Docker engine can't be reached: the reason, not a blank page. */
export function EngineUnreachable({ node }: { node: Pick<Node, "name" | "docker_host" | "engine"> }) {
  return (
    <div
      role="alert"
      data-testid="engine-unreachable"
      className="flex gap-3 rounded-lg border border-amber-300 bg-amber-50 p-4 text-amber-950 dark:border-amber-800/70 dark:bg-amber-950/40 dark:text-amber-100"
    >
      <PlugZap className="mt-0.5 size-5 shrink-0 text-amber-600 dark:text-amber-400" />
      <div className="min-w-0 space-y-1">
        <p className="font-semibold">Docker engine unreachable</p>
        <p className="text-sm break-words">
          {node.engine.error ?? "The Docker engine did not answer. It may be stopped, or Dockyard lacks access to its socket."}
        </p>
        <p className="text-xs text-amber-800/90 dark:text-amber-200/80">
          Node <span className="font-medium">{node.name}</span> · host{" "}
          <code className="rounded bg-amber-100 px-1 py-0.5 font-mono break-all dark:bg-amber-900/50">{node.docker_host}</code> · checked{" "}
          <span title={formatUtc(node.engine.checked_at)}>{formatRelative(node.engine.checked_at)}</span>
        </p>
      </div>
    </div>
  );
}
