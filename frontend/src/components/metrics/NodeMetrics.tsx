/** Node metrics charts (placeholder until the metrics domain lands). */
export function NodeMetrics(_props: { nodeId: number }) {
  return null;
}
