import { Settings } from "lucide-react";
import type { RouteObject } from "react-router";
import { RequireAuth } from "@/auth/RequireAuth";
import { AppLayout } from "@/components/layout/AppLayout";
import { AccountPage } from "@/pages/AccountPage";
import { AlertsPage } from "@/pages/AlertsPage";
import { AnalyticsPage } from "@/pages/AnalyticsPage";
import { AuditPage } from "@/pages/AuditPage";
import { ComingSoonPage } from "@/pages/ComingSoonPage";
import { ConfigPage } from "@/pages/ConfigPage";
import { ContainerDetailPage } from "@/pages/ContainerDetailPage";
import { ContainersPage } from "@/pages/ContainersPage";
import { DashboardPage } from "@/pages/DashboardPage";
import { HealthCheckPage } from "@/pages/HealthCheckPage";
import { HealthPage } from "@/pages/HealthPage";
import { HostsPage } from "@/pages/HostsPage";
import { LogSearchPage } from "@/pages/LogSearchPage";
import { LoginPage } from "@/pages/LoginPage";
import { McpServerPage } from "@/pages/McpServerPage";
import { McpServersPage } from "@/pages/McpServersPage";
import { NodeDetailPage } from "@/pages/NodeDetailPage";
import { NodesPage } from "@/pages/NodesPage";
import { NotFoundPage } from "@/pages/NotFoundPage";
import { PlacementPage } from "@/pages/PlacementPage";
import { RegistriesPage } from "@/pages/RegistriesPage";
import { RolesPage } from "@/pages/RolesPage";
import { ResourcesPage } from "@/pages/ResourcesPage";
import { ServiceAdoptPage } from "@/pages/ServiceAdoptPage";
import { ServiceCreatePage } from "@/pages/ServiceCreatePage";
import { ServicePage } from "@/pages/ServicePage";
import { ServicesPage } from "@/pages/ServicesPage";
import { TemplatesPage } from "@/pages/TemplatesPage";
import { UsersPage } from "@/pages/UsersPage";

export const routes: RouteObject[] = [
  { path: "/login", element: <LoginPage /> },
  {
    path: "/",
    element: (
      <RequireAuth>
        <AppLayout />
      </RequireAuth>
    ),
    children: [
      { index: true, element: <DashboardPage /> },
      { path: "services", element: <ServicesPage /> },
      { path: "services/new", element: <ServiceCreatePage /> },
      { path: "services/adopt", element: <ServiceAdoptPage /> },
      { path: "services/:id/:tab?", element: <ServicePage /> },
      { path: "containers", element: <ContainersPage /> },
      { path: "containers/:nodeId/:containerId", element: <ContainerDetailPage /> },
      { path: "logs", element: <LogSearchPage /> },
      { path: "templates", element: <TemplatesPage /> },
      { path: "images/:tab?", element: <ResourcesPage /> },
      { path: "nodes", element: <NodesPage /> },
      { path: "nodes/:id", element: <NodeDetailPage /> },
      { path: "placement", element: <PlacementPage /> },
      { path: "audit", element: <AuditPage /> },
      { path: "registries", element: <RegistriesPage /> },
      { path: "hosts", element: <HostsPage /> },
      { path: "health", element: <HealthPage /> },
      { path: "health/:id", element: <HealthCheckPage /> },
      { path: "mcp", element: <McpServersPage /> },
      { path: "mcp/:id", element: <McpServerPage /> },
      { path: "analytics", element: <AnalyticsPage /> },
      { path: "alerts/:tab?", element: <AlertsPage /> },
      { path: "users", element: <UsersPage /> },
      { path: "roles", element: <RolesPage /> },
      { path: "account", element: <AccountPage /> },
      { path: "configuration", element: <ConfigPage /> },
      {
        path: "settings",
        element: <ComingSoonPage title="Settings" icon={Settings} description="Settings — server configuration, sessions and integrations — arrive in the next release." />,
      },
      { path: "*", element: <NotFoundPage /> },
    ],
  },
];
