import { Menu } from "lucide-react";
import { useEffect, useState } from "react";
import { Outlet, useLocation } from "react-router";
import { Button } from "@/components/ui/button";
import { Sheet, SheetContent, SheetDescription, SheetTitle } from "@/components/ui/sheet";
import { useCurrentPageTitle } from "@/lib/pageTitle";
import { useMediaQuery } from "@/lib/useMediaQuery";
import { JobSheet } from "@/components/jobs/JobSheet";
import { JobsIndicator } from "@/components/jobs/JobsIndicator";
import { JobWatcher } from "@/components/jobs/JobWatcher";
import { RealtimeBridge, RealtimeIndicator } from "./RealtimeIndicator";
import { SidebarContent } from "./Sidebar";
import { ThemeToggle } from "./ThemeToggle";
import { UserMenu } from "./UserMenu";

export function AppLayout() {
  // Render exactly one sidebar at a time (desktop rail or mobile drawer) so test ids stay unique.
  const isDesktop = useMediaQuery("(min-width: 1024px)");
  const [drawerOpen, setDrawerOpen] = useState(false);
  const title = useCurrentPageTitle();
  const location = useLocation();

  useEffect(() => {
    if (isDesktop) setDrawerOpen(false);
  }, [isDesktop]);
  useEffect(() => {
    setDrawerOpen(false);
  }, [location.pathname]);

  return (
    <div className="min-h-svh">
      {isDesktop && (
        <aside data-testid="sidebar" className="fixed inset-y-0 left-0 z-40 w-60 border-r border-sidebar-border">
          <SidebarContent />
        </aside>
      )}
      {!isDesktop && (
        <Sheet open={drawerOpen} onOpenChange={setDrawerOpen}>
          <SheetContent side="left" data-testid="sidebar" className="p-0" aria-describedby={undefined}>
            <SheetTitle className="sr-only">Navigation</SheetTitle>
            <SheetDescription className="sr-only">Main navigation</SheetDescription>
            <SidebarContent onNavigate={() => setDrawerOpen(false)} />
          </SheetContent>
        </Sheet>
      )}
      <div className={isDesktop ? "pl-60" : undefined}>
        <header className="sticky top-0 z-30 flex h-14 items-center gap-2 border-b bg-background/85 px-3 backdrop-blur supports-[backdrop-filter]:bg-background/70 sm:px-4 lg:px-6">
          {!isDesktop && (
            <Button
              variant="ghost"
              size="icon"
              data-testid="mobile-menu-button"
              aria-label="Open navigation"
              aria-expanded={drawerOpen}
              onClick={() => setDrawerOpen(true)}
            >
              <Menu />
            </Button>
          )}
          <h1 className="min-w-0 truncate text-base font-semibold" data-testid="page-title">
            {title}
          </h1>
          <div className="ml-auto flex items-center gap-1">
            <RealtimeIndicator />
            <JobsIndicator />
            <ThemeToggle />
            <UserMenu />
          </div>
        </header>
        <main className="mx-auto w-full max-w-[1400px] px-3 py-5 sm:px-4 lg:px-6 lg:py-6">
          <Outlet />
        </main>
      </div>
      <RealtimeBridge />
      <JobWatcher />
      <JobSheet />
    </div>
  );
}
