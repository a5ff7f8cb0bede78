import { NavLink } from "react-router";
import { useMe, useSystemInfo } from "@/api/queries";
import { Logo } from "@/components/Logo";
import { cn } from "@/lib/utils";
import { visibleNavGroups } from "./nav";

export function SidebarContent({ onNavigate }: { onNavigate?: () => void }) {
  const info = useSystemInfo();
  const me = useMe();
  return (
    <div className="flex h-full flex-col bg-sidebar text-sidebar-foreground">
      <div className="flex h-14 shrink-0 items-center border-b border-sidebar-border px-4">
        <NavLink to="/" onClick={onNavigate} className="rounded-md outline-none focus-visible:ring-2 focus-visible:ring-ring">
          <Logo />
        </NavLink>
      </div>
      <nav aria-label="Main" className="flex-1 overflow-y-auto px-3 py-3">
        {visibleNavGroups(me.data?.permissions).map((group) => (
          <div key={group.label} className="mb-4 last:mb-0">
            <p className="px-2 pb-1.5 text-[11px] font-medium tracking-wide text-muted-foreground uppercase">{group.label}</p>
            <ul className="space-y-0.5">
              {group.items.map((item) => (
                <li key={item.key}>
                  <NavLink
                    to={item.to}
                    end={item.to === "/"}
                    onClick={onNavigate}
                    data-testid={`nav-${item.key}`}
                    className={({ isActive }) =>
                      cn(
                        "group flex h-8 items-center gap-2.5 rounded-md px-2 text-sm font-medium outline-none transition-colors focus-visible:ring-2 focus-visible:ring-ring",
                        isActive
                          ? "bg-accent text-accent-foreground"
                          : "text-sidebar-foreground/80 hover:bg-muted hover:text-foreground",
                      )
                    }
                  >
                    {({ isActive }) => (
                      <>
                        <item.icon
                          className={cn(
                            "size-4 shrink-0",
                            isActive ? "text-primary" : "text-muted-foreground group-hover:text-foreground",
                          )}
                        />
                        {item.label}
                      </>
                    )}
                  </NavLink>
                </li>
              ))}
            </ul>
          </div>
        ))}
      </nav>
      <div className="shrink-0 border-t border-sidebar-border px-5 py-3 text-[11px] text-muted-foreground">
        {info.data ? (
          <span title={`Host ${info.data.hostname} · ${info.data.database} · Python ${info.data.python}`}>
            Dockyard v{info.data.version} · {info.data.hostname}
          </span>
        ) : (
          <span>Dockyard</span>
        )}
      </div>
    </div>
  );
}
