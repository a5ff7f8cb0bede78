import type { LucideIcon } from "lucide-react";
import { EmptyState } from "@/components/EmptyState";
import { usePageTitle } from "@/lib/pageTitle";

export function ComingSoonPage({ title, icon, description }: { title: string; icon: LucideIcon; description: string }) {
  usePageTitle(title);
  return <EmptyState icon={icon} title={title} description={description} className="mt-2 py-20" />;
}
