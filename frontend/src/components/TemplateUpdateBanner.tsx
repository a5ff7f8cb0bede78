import { LayoutTemplate } from "lucide-react";
import { useState } from "react";
import { useTemplateUpdateOffer } from "@/api/templates";
import { Button } from "@/components/ui/button";

/** For a service created from a template: a newer template version and its diff. */
export function TemplateUpdateBanner({ serviceId }: { serviceId: number }) {
  const offer = useTemplateUpdateOffer(serviceId);
  const [open, setOpen] = useState(false);
  const data = offer.data;
  if (!data?.update_available) return null;
  return (
    <div role="status" className="space-y-2 rounded-lg border border-sky-200 bg-sky-50 p-4 text-sky-950 dark:border-sky-900 dark:bg-sky-950/40 dark:text-sky-100" data-testid="template-update">
      <div className="flex flex-wrap items-center gap-3">
        <LayoutTemplate className="size-5 shrink-0 text-sky-600 dark:text-sky-400" aria-hidden />
        <p className="min-w-0 flex-1 text-sm">
          Template <span className="font-semibold">{data.template_slug}</span> has a new version: {data.current_version} → {data.latest_version}
          {data.changed_services.length > 0 && <> (changes {data.changed_services.join(", ")})</>}. Apply it by editing the definition.
        </p>
        <Button size="sm" variant="outline" onClick={() => setOpen((o) => !o)} aria-expanded={open}>
          {open ? "Hide diff" : "Show diff"}
        </Button>
      </div>
      {open && <pre className="max-h-80 overflow-auto rounded-md border bg-background p-3 font-mono text-xs text-foreground">{data.diff || "No difference in the rendered definition."}</pre>}
    </div>
  );
}
