import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Loader2, Plus, Save, Trash2, X } from "lucide-react";
import { useEffect, useState } from "react";
import { toast } from "sonner";
import { serviceKeys } from "@/api/serviceQueries";
import { servicesApi } from "@/api/services";
import type { ServiceDetail } from "@/api/types";
import { useServiceActions } from "@/components/services/useServiceActions";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Textarea } from "@/components/ui/textarea";

type LabelRow = { key: string; value: string };

function labelRows(labels: Record<string, string>): LabelRow[] {
  return Object.entries(labels).map(([key, value]) => ({ key, value }));
}

export function SettingsTab({ service }: { service: ServiceDetail }) {
  const queryClient = useQueryClient();
  const actions = useServiceActions(service);
  const [description, setDescription] = useState(service.description);
  const [labels, setLabels] = useState<LabelRow[]>(() => labelRows(service.labels));

  // Follow outside changes while nothing is being edited here.
  const serverKey = JSON.stringify([service.description, service.labels]);
  const [seen, setSeen] = useState(serverKey);
  const dirty = description !== service.description || JSON.stringify(labels.filter((l) => l.key.trim())) !== JSON.stringify(labelRows(service.labels));
  useEffect(() => {
    if (serverKey !== seen && !dirty) {
      setDescription(service.description);
      setLabels(labelRows(service.labels));
    }
    setSeen(serverKey);
  }, [serverKey]); // eslint-disable-line react-hooks/exhaustive-deps

  const save = useMutation({
    mutationFn: () =>
      servicesApi.update(
        service.id,
        { description, labels: Object.fromEntries(labels.filter((l) => l.key.trim()).map((l) => [l.key.trim(), l.value])), comment: "", source: "ui" },
      ),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: serviceKeys.item(service.id) });
      void queryClient.invalidateQueries({ queryKey: serviceKeys.lists() });
      toast.success("Saved");
    },
  });

  return (
    <div className="grid max-w-3xl gap-5">
      <Card>
        <CardHeader>
          <CardTitle>General</CardTitle>
          <CardDescription>Description and labels help you find and group services. They don't change the containers.</CardDescription>
        </CardHeader>
        <CardContent>
          <form
            className="space-y-4"
            onSubmit={(e) => {
              e.preventDefault();
              if (dirty) save.mutate();
            }}
          >
            <div className="space-y-1.5">
              <Label htmlFor="settings-description">Description</Label>
              <Textarea id="settings-description" value={description} onChange={(e) => setDescription(e.target.value)} maxLength={2000} className="h-20" data-testid="settings-description" />
            </div>
            <fieldset className="space-y-2">
              <legend className="text-xs font-medium text-foreground/90">Labels</legend>
              {labels.map((l, i) => (
                <div key={i} className="flex items-center gap-2">
                  <Input aria-label={`Label ${i + 1} key`} value={l.key} placeholder="team" className="w-2/5 font-mono" onChange={(e) => setLabels(labels.map((x, j) => (j === i ? { ...x, key: e.target.value } : x)))} />
                  <span className="text-muted-foreground">=</span>
                  <Input aria-label={`Label ${i + 1} value`} value={l.value} placeholder="payments" className="flex-1 font-mono" onChange={(e) => setLabels(labels.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)))} />
                  <Button type="button" variant="ghost" size="icon" className="size-9 text-muted-foreground" aria-label={`Remove label ${l.key || i + 1}`} onClick={() => setLabels(labels.filter((_, j) => j !== i))}>
                    <X />
                  </Button>
                </div>
              ))}
              <Button type="button" variant="outline" size="sm" onClick={() => setLabels([...labels, { key: "", value: "" }])}>
                <Plus /> Add label
              </Button>
            </fieldset>
            <div className="flex justify-end">
              <Button type="submit" disabled={!dirty || save.isPending}>
                {save.isPending ? <Loader2 className="animate-spin" /> : <Save />} Save
              </Button>
            </div>
          </form>
        </CardContent>
      </Card>

      <Card className="border-red-300 dark:border-red-900/70" data-testid="danger-zone">
        <CardHeader>
          <CardTitle className="text-red-700 dark:text-red-400">Danger zone</CardTitle>
          <CardDescription>Deleting removes the containers, networks and the service with all its revisions.</CardDescription>
        </CardHeader>
        <CardContent className="flex flex-wrap items-center justify-between gap-3">
          <p className="text-sm">
            Delete <span className="font-mono font-semibold">{service.name}</span>
            <span className="block text-xs text-muted-foreground">Named volumes are kept unless you choose otherwise.</span>
          </p>
          <Button variant="destructive" onClick={() => actions.request("delete")} disabled={actions.pending !== null} data-testid="action-delete">
            {actions.pending === "delete" ? <Loader2 className="animate-spin" /> : <Trash2 />} Delete service…
          </Button>
        </CardContent>
      </Card>
      {actions.dialogs}
    </div>
  );
}
