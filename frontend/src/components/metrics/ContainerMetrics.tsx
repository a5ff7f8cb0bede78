/** One container's CPU, memory, network and block I/O over a chosen range. */
import { useState } from "react";
import { formatBytes } from "@/lib/format";
import { type MetricsRange } from "./format";
import { useContainerMetrics } from "./metricsApi";
import { MetricsPanel } from "./MetricsPanel";
import { CONTAINER_CHARTS, containerRows } from "./ServiceMetrics";

export function ContainerMetrics({ nodeId, containerId }: { nodeId: number; containerId: string }) {
  const [range, setRange] = useState<MetricsRange>("1h");
  const query = useContainerMetrics(nodeId, containerId, range);
  const points = query.data?.points ?? [];
  const rows = containerRows(points);
  const last = points.at(-1);
  return (
    <MetricsPanel
      testId="container-metrics"
      title="Container metrics"
      subject="container"
      range={range}
      onRange={setRange}
      query={query}
      rows={rows}
      charts={CONTAINER_CHARTS}
      emptyHint="Running containers are sampled every few seconds; a stopped container has no new points."
      summary={last ? `memory limit ${formatBytes(last.mem_limit)}, ${Math.round(last.pids)} processes` : undefined}
    />
  );
}
