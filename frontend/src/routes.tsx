import { Bell, HeartPulse, Settings } from "lucide-react";
import type { RouteObject } from "react-router";
import { RequireAuth } from "@/auth/RequireAuth";
import { AppLayout } from "@/components/layout/AppLayout";
import { AccountPage } from "@/pages/AccountPage";
import { AuditPage } from "@/pages/AuditPage";
import { ComingSoonPage } from "@/pages/ComingSoonPage";
import { DashboardPage } from "@/pages/DashboardPage";
import { HostsPage } from "@/pages/HostsPage";
import { LoginPage } from "@/pages/LoginPage";
import { NodeDetailPage } from "@/pages/NodeDetailPage";
import { NodesPage } from "@/pages/NodesPage";
import { NotFoundPage } from "@/pages/NotFoundPage";
import { RegistriesPage } from "@/pages/RegistriesPage";
import { RolesPage } from "@/pages/RolesPage";
import { ResourcesPage } from "@/pages/ResourcesPage";
import { ServiceAdoptPage } from "@/pages/ServiceAdoptPage";
import { ServiceCreatePage } from "@/pages/ServiceCreatePage";
import { ServicePage } from "@/pages/ServicePage";
import { ServicesPage } from "@/pages/ServicesPage";
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
      { path: "images/:tab?", element: <ResourcesPage /> },
      { path: "nodes", element: <NodesPage /> },
      { path: "nodes/:id", element: <NodeDetailPage /> },
      { path: "audit", element: <AuditPage /> },
      { path: "registries", element: <RegistriesPage /> },
      { path: "hosts", element: <HostsPage /> },
      {
        path: "health",
        element: <ComingSoonPage title="Health" icon={HeartPulse} description="Health — container health checks and restart loops across the fleet in one view — arrives in the next release." />,
      },
      {
        path: "alerts",
        element: <ComingSoonPage title="Alerts" icon={Bell} description="Alerts — rules and notifications when containers stop, restart or run out of resources — arrive in the next release." />,
      },
      { path: "users", element: <UsersPage /> },
      { path: "roles", element: <RolesPage /> },
      { path: "account", element: <AccountPage /> },
      {
        path: "settings",
        element: <ComingSoonPage title="Settings" icon={Settings} description="Settings — server configuration, sessions and integrations — arrive in the next release." />,
      },
      { path: "*", element: <NotFoundPage /> },
    ],
  },
];
