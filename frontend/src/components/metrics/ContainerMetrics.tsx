/** Container metrics charts (placeholder until the metrics domain lands). */
export function ContainerMetrics(_props: { nodeId: number; containerId: string }) {
  return null;
}
