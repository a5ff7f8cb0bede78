/** Service metrics charts (placeholder until the metrics domain lands). */
export function ServiceMetrics(_props: { serviceId: number }) {
  return null;
}
