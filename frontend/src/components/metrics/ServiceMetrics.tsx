/** A service's containers summed: CPU, memory, network, block I/O over a chosen range. */
import { useState } from "react";
import { toRows, type MetricsRange } from "./format";
import { useServiceMetrics } from "./metricsApi";
import { MetricsPanel, type ChartSpec } from "./MetricsPanel";

export const CONTAINER_CHARTS: ChartSpec[] = [
  { id: "cpu", title: "CPU (100% = one core)", unit: "percent", series: [{ key: "cpu", name: "CPU", color: "#6366f1" }] },
  { id: "memory", title: "Memory", unit: "bytes", series: [{ key: "mem", name: "Memory", color: "#10b981" }] },
  {
    id: "network",
    title: "Network",
    unit: "rate",
    series: [
      { key: "rx", name: "In", color: "#0ea5e9" },
      { key: "tx", name: "Out", color: "#f59e0b" },
    ],
  },
  {
    id: "blockio",
    title: "Block I/O",
    unit: "rate",
    series: [
      { key: "read", name: "Read", color: "#a855f7" },
      { key: "write", name: "Write", color: "#ef4444" },
    ],
  },
];

interface ContainerFigures {
  ts: string;
  cpu_pct: number;
  mem_used: number;
  net_rx_bps: number;
  net_tx_bps: number;
  blk_read_bps: number;
  blk_write_bps: number;
}

/** Chart rows for `CONTAINER_CHARTS` from a service's or a container's points. */
export function containerRows(points: readonly ContainerFigures[]): Record<string, number>[] {
  return toRows(points, {
    cpu: (p) => p.cpu_pct,
    mem: (p) => p.mem_used,
    rx: (p) => p.net_rx_bps,
    tx: (p) => p.net_tx_bps,
    read: (p) => p.blk_read_bps,
    write: (p) => p.blk_write_bps,
  });
}

export function ServiceMetrics({ serviceId }: { serviceId: number }) {
  const [range, setRange] = useState<MetricsRange>("1h");
  const query = useServiceMetrics(serviceId, range);
  const points = query.data?.points ?? [];
  const rows = containerRows(points);
  const last = points.at(-1);
  return (
    <MetricsPanel
      testId="service-metrics"
      title="Service metrics"
      subject="service"
      range={range}
      onRange={setRange}
      query={query}
      rows={rows}
      charts={CONTAINER_CHARTS}
      emptyHint="Metrics appear once the service has running containers; they are sampled every few seconds."
      summary={last ? `sum of ${last.containers} container${last.containers === 1 ? "" : "s"}, ${Math.round(last.pids)} processes` : undefined}
    />
  );
}
