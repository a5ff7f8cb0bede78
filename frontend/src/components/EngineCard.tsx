import { Cpu } from "lucide-react";
import type { Node } from "@/api/types";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { formatBytes, formatRelative, formatUtc, orDash } from "@/lib/format";
import { KeyValueGrid, type KeyValueItem } from "./KeyValue";

export function engineFactItems(node: Node, full = false): KeyValueItem[] {
  const e = node.engine;
  const items: KeyValueItem[] = [
    { label: "Server version", value: orDash(e.server_version), mono: true, testId: "engine-server-version" },
    { label: "API version", value: orDash(e.api_version), mono: true, testId: "engine-api-version" },
    { label: "Operating system", value: orDash(e.os) },
    { label: "OS type", value: orDash(e.os_type) },
    { label: "Kernel", value: orDash(e.kernel_version), mono: true },
    { label: "Architecture", value: orDash(e.architecture), mono: true },
    { label: "Storage driver", value: orDash(e.storage_driver), mono: true },
    { label: "Docker root dir", value: orDash(e.docker_root_dir), mono: true },
    { label: "Docker host", value: node.docker_host, mono: true },
    { label: "Engine name", value: orDash(e.name) },
  ];
  if (full) {
    items.push(
      { label: "CPUs", value: orDash(e.cpus) },
      { label: "Memory", value: formatBytes(e.memory_bytes), title: e.memory_bytes != null ? `${e.memory_bytes} bytes` : undefined },
      { label: "Containers", value: orDash(e.containers) },
      { label: "Running", value: orDash(e.containers_running) },
      { label: "Paused", value: orDash(e.containers_paused) },
      { label: "Stopped", value: orDash(e.containers_stopped) },
      { label: "Images", value: orDash(e.images) },
      { label: "Checked", value: formatRelative(e.checked_at), title: formatUtc(e.checked_at) },
    );
  }
  return items;
}

export function EngineCard({
  node,
  full = false,
  testId = "dashboard-engine-card",
}: {
  node: Node;
  full?: boolean;
  testId?: string;
}) {
  return (
    <Card data-testid={testId}>
      <CardHeader className="flex-row items-center justify-between">
        <div className="space-y-1">
          <CardTitle className="flex items-center gap-2">
            <Cpu className="size-4 text-muted-foreground" /> Docker engine
          </CardTitle>
          <CardDescription>
            {node.name} · checked <span title={formatUtc(node.engine.checked_at)}>{formatRelative(node.engine.checked_at)}</span>
          </CardDescription>
        </div>
      </CardHeader>
      <CardContent>
        <KeyValueGrid items={engineFactItems(node, full)} />
      </CardContent>
    </Card>
  );
}
