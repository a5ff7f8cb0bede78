import { Compass } from "lucide-react";
import { Link, useLocation } from "react-router";
import { EmptyState } from "@/components/EmptyState";
import { Button } from "@/components/ui/button";
import { usePageTitle } from "@/lib/pageTitle";

export function NotFoundPage() {
  usePageTitle("Page not found");
  const { pathname } = useLocation();
  return (
    <EmptyState
      icon={Compass}
      title="Page not found"
      description={<>There is nothing at <code className="font-mono text-foreground">{pathname}</code>. Check the address or pick a section from the menu.</>}
      action={<Button asChild><Link to="/">Go to dashboard</Link></Button>}
      className="mt-2 py-20"
    />
  );
}
