import { PageHeader } from "@/components/PageHeader";
import { usePageTitle } from "@/lib/pageTitle";
import { UsageAnalytics } from "@/pages/mcp/UsageAnalytics";

export function AnalyticsPage() {
  usePageTitle("Analytics");
  return (
    <div>
      <PageHeader description="Usage of your MCP servers: queries, cost, latency, errors, tools and users (UTC, hourly)." />
      <UsageAnalytics />
    </div>
  );
}
