import {
  BarChart3,
  Bell,
  Bot,
  Boxes,
  FileCog,
  HeartPulse,
  KeyRound,
  Layers,
  LayoutDashboard,
  LayoutTemplate,
  Network,
  Package,
  ScrollText,
  Search,
  Server,
  Settings,
  ShieldCheck,
  Users,
  Waypoints,
  type LucideIcon,
} from "lucide-react";

export interface NavItem {
  key: string;
  label: string;
  to: string;
  icon: LucideIcon;
  /** Shown only to users holding this permission (from `GET /auth/me`). */
  permission?: string;
  /** Shown only to users holding at least one of these permissions. */
  anyPermission?: readonly string[];
}

export interface NavGroup {
  label: string;
  items: NavItem[];
}

export const NAV_GROUPS: NavGroup[] = [
  {
    label: "Overview",
    items: [{ key: "dashboard", label: "Dashboard", to: "/", icon: LayoutDashboard }],
  },
  {
    label: "Workloads",
    items: [
      { key: "services", label: "Services", to: "/services", icon: Layers },
      { key: "containers", label: "Containers", to: "/containers", icon: Boxes, anyPermission: ["containers:read", "services:read"] },
      { key: "logs", label: "Log search", to: "/logs", icon: Search, anyPermission: ["containers:logs", "services:logs"] },
      { key: "templates", label: "Templates", to: "/templates", icon: LayoutTemplate, permission: "templates:read" },
      { key: "images", label: "Images", to: "/images", icon: Package },
    ],
  },
  {
    label: "Infrastructure",
    items: [
      { key: "nodes", label: "Nodes", to: "/nodes", icon: Server },
      { key: "placement", label: "Placement", to: "/placement", icon: Network, permission: "nodes:read" },
      { key: "hosts", label: "Hosts", to: "/hosts", icon: Waypoints },
      { key: "health", label: "Health", to: "/health", icon: HeartPulse },
      { key: "alerts", label: "Alerts", to: "/alerts", icon: Bell },
      { key: "mcp", label: "MCP servers", to: "/mcp", icon: Bot, permission: "mcp:read" },
      { key: "analytics", label: "Analytics", to: "/analytics", icon: BarChart3, permission: "analytics:read" },
    ],
  },
  {
    label: "Administration",
    items: [
      { key: "audit", label: "Audit", to: "/audit", icon: ScrollText, permission: "audit:read" },
      { key: "registries", label: "Registries", to: "/registries", icon: KeyRound, permission: "registries:read" },
      { key: "users", label: "Users", to: "/users", icon: Users, permission: "users:read" },
      { key: "roles", label: "Roles", to: "/roles", icon: ShieldCheck, permission: "roles:read" },
      { key: "config", label: "Configuration", to: "/configuration", icon: FileCog, permission: "config:read" },
      { key: "settings", label: "Settings", to: "/settings", icon: Settings },
    ],
  },
];

export const NAV_ITEMS: NavItem[] = NAV_GROUPS.flatMap((g) => g.items);

/** The groups and items the user may open (items with a permission they lack are hidden). */
export function visibleNavGroups(permissions: readonly string[] | undefined): NavGroup[] {
  return NAV_GROUPS.map((g) => ({
    ...g,
    items: g.items.filter(
      (i) =>
        (!i.permission || (permissions?.includes(i.permission) ?? false)) &&
        (!i.anyPermission || i.anyPermission.some((p) => permissions?.includes(p) ?? false)),
    ),
  })).filter((g) => g.items.length > 0);
}
