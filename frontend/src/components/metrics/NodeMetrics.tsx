/** A node's host metrics: CPU, memory, disk, network and load over a chosen range. */
import { useState } from "react";
import { formatBytes } from "@/lib/format";
import { percentOf, toRows, type MetricsRange } from "./format";
import { useNodeMetrics } from "./metricsApi";
import { MetricsPanel, type ChartSpec } from "./MetricsPanel";

const CHARTS: ChartSpec[] = [
  { id: "cpu", title: "CPU", unit: "percent", max: 100, series: [{ key: "cpu", name: "CPU", color: "#6366f1" }] },
  { id: "memory", title: "Memory", unit: "percent", max: 100, series: [{ key: "mem", name: "Memory", color: "#10b981" }] },
  {
    id: "network",
    title: "Network",
    unit: "rate",
    series: [
      { key: "rx", name: "In", color: "#0ea5e9" },
      { key: "tx", name: "Out", color: "#f59e0b" },
    ],
  },
  { id: "disk", title: "Disk (Docker root)", unit: "percent", max: 100, series: [{ key: "disk", name: "Disk", color: "#a855f7" }] },
  { id: "load", title: "Load (1 min)", unit: "count", series: [{ key: "load", name: "Load", color: "#64748b" }] },
];

export function NodeMetrics({ nodeId }: { nodeId: number }) {
  const [range, setRange] = useState<MetricsRange>("1h");
  const query = useNodeMetrics(nodeId, range);
  const points = query.data?.points ?? [];
  const rows = toRows(points, {
    cpu: (p) => p.cpu_pct,
    mem: (p) => percentOf(p.mem_used, p.mem_total),
    rx: (p) => p.net_rx_bps,
    tx: (p) => p.net_tx_bps,
    disk: (p) => percentOf(p.disk_used, p.disk_total),
    load: (p) => p.load_1,
  });
  const last = points.at(-1);
  return (
    <MetricsPanel
      testId="node-metrics"
      title="Host metrics"
      subject="node"
      range={range}
      onRange={setRange}
      query={query}
      rows={rows}
      charts={CHARTS}
      emptyHint="Samples arrive every few seconds while the node is online (the local engine from the server, agent nodes from their agent)."
      summary={last ? `${last.cpu_count} CPUs, ${formatBytes(last.mem_total)} memory, ${formatBytes(last.disk_total)} disk` : undefined}
    />
  );
}
