import {
  Bell,
  HeartPulse,
  Layers,
  LayoutDashboard,
  Package,
  ScrollText,
  Server,
  Settings,
  Users,
  Waypoints,
  type LucideIcon,
} from "lucide-react";

export interface NavItem {
  key: string;
  label: string;
  to: string;
  icon: LucideIcon;
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
      { key: "images", label: "Images", to: "/images", icon: Package },
    ],
  },
  {
    label: "Infrastructure",
    items: [
      { key: "nodes", label: "Nodes", to: "/nodes", icon: Server },
      { key: "hosts", label: "Hosts", to: "/hosts", icon: Waypoints },
      { key: "health", label: "Health", to: "/health", icon: HeartPulse },
      { key: "alerts", label: "Alerts", to: "/alerts", icon: Bell },
    ],
  },
  {
    label: "Administration",
    items: [
      { key: "audit", label: "Audit", to: "/audit", icon: ScrollText },
      { key: "users", label: "Users", to: "/users", icon: Users },
      { key: "settings", label: "Settings", to: "/settings", icon: Settings },
    ],
  },
];

export const NAV_ITEMS: NavItem[] = NAV_GROUPS.flatMap((g) => g.items);
