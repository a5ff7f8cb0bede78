import { Plus, X } from "lucide-react";
import { useId, type ClipboardEvent, type ReactNode } from "react";
import { Button } from "@/components/ui/button";
import { Checkbox } from "@/components/ui/checkbox";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { EMPTY_ENV, EMPTY_VOLUME, envRowsFromText, RESTART_POLICIES, type ContainerForm, type EnvRow, type VolumeRow } from "@/lib/definitionForm";
import { cn } from "@/lib/utils";

/** Problems by field id (`image`, `port.2`, `env.KEY`, ...). */
export type FieldErrors = ReadonlyMap<string, string[]>;

export function FieldError({ messages, id }: { messages: readonly string[] | undefined; id?: string }) {
  if (!messages?.length) return null;
  return (
    <p id={id} className="mt-1 text-xs text-red-600 dark:text-red-400" role="alert" data-testid="field-error">
      {messages.join("; ")}
    </p>
  );
}

function Section({ title, hint, children, action }: { title: string; hint?: ReactNode; children: ReactNode; action?: ReactNode }) {
  return (
    <fieldset className="space-y-2">
      <div className="flex items-end justify-between gap-2">
        <div>
          <legend className="text-xs font-medium text-foreground/90">{title}</legend>
          {hint && <p className="text-xs text-muted-foreground">{hint}</p>}
        </div>
        {action}
      </div>
      {children}
    </fieldset>
  );
}

function RemoveButton({ label, onClick }: { label: string; onClick: () => void }) {
  return (
    <Button type="button" variant="ghost" size="icon" className="size-9 shrink-0 text-muted-foreground hover:text-foreground" aria-label={label} onClick={onClick}>
      <X />
    </Button>
  );
}

function AddButton({ children, onClick, testId }: { children: ReactNode; onClick: () => void; testId?: string }) {
  return (
    <Button type="button" variant="outline" size="sm" onClick={onClick} data-testid={testId}>
      <Plus /> {children}
    </Button>
  );
}

/**
 * The simple container form: image, ports, environment, volumes, restart policy, command.
 * `compose` mode (the definition tab) notes that values are compose text (`$$` for `$`).
 */
export function ContainerFields({
  value,
  onChange,
  errors,
  showVolumes = true,
  compose = false,
  disabled = false,
}: {
  value: ContainerForm;
  onChange: (next: ContainerForm) => void;
  errors?: FieldErrors;
  showVolumes?: boolean;
  compose?: boolean;
  disabled?: boolean;
}) {
  const uid = useId();
  const set = (patch: Partial<ContainerForm>) => onChange({ ...value, ...patch });
  const err = (key: string) => errors?.get(key);

  const setPort = (i: number, text: string) => set({ ports: value.ports.map((p, j) => (j === i ? text : p)) });
  const setEnv = (i: number, patch: Partial<EnvRow>) => set({ environment: value.environment.map((r, j) => (j === i ? { ...r, ...patch } : r)) });
  const setVolume = (i: number, patch: Partial<VolumeRow>) => set({ volumes: value.volumes.map((r, j) => (j === i ? { ...r, ...patch } : r)) });

  /** Pasting `KEY=value` lines into a key field fills several rows at once. */
  const onEnvPaste = (i: number, e: ClipboardEvent<HTMLInputElement>) => {
    const text = e.clipboardData.getData("text");
    if (!text.includes("=") && !text.includes("\n")) return;
    const rows = envRowsFromText(text);
    if (rows.length === 0) return;
    e.preventDefault();
    const next = [...value.environment];
    next.splice(i, 1, ...rows.map((r) => ({ key: r.key, value: r.value ?? "" })));
    set({ environment: next });
  };

  const imageErr = err("image");
  const restartOptions: string[] = [...RESTART_POLICIES];
  if (value.restart && !restartOptions.includes(value.restart)) restartOptions.push(value.restart);

  return (
    <div className="space-y-6">
      <div className="space-y-1.5">
        <Label htmlFor={`${uid}-image`}>Image</Label>
        <Input
          id={`${uid}-image`}
          placeholder="e.g. nginx:1.27 or ghcr.io/acme/app:2.1"
          value={value.image}
          onChange={(e) => set({ image: e.target.value })}
          className="font-mono"
          spellCheck={false}
          autoCapitalize="off"
          autoComplete="off"
          aria-invalid={imageErr ? true : undefined}
          aria-describedby={imageErr ? `${uid}-image-err` : undefined}
          disabled={disabled}
          data-testid="service-form-image"
        />
        <FieldError messages={imageErr} id={`${uid}-image-err`} />
      </div>

      <Section
        title="Ports"
        hint={
          <>
            <span className="font-mono">HOST:CONTAINER</span>, e.g. <span className="font-mono">8080:80</span> or{" "}
            <span className="font-mono">127.0.0.1:8080:80/udp</span>
          </>
        }
        action={<AddButton onClick={() => set({ ports: [...value.ports, ""] })} testId="add-port">Add port</AddButton>}
      >
        {value.ports.length === 0 ? (
          <p className="text-xs text-muted-foreground">No published ports.</p>
        ) : (
          <ul className="space-y-2">
            {value.ports.map((p, i) => {
              const e = err(`port.${i}`);
              return (
                <li key={i}>
                  <div className="flex items-center gap-2">
                    <Input
                      aria-label={`Port ${i + 1}`}
                      placeholder="8080:80"
                      value={p}
                      onChange={(ev) => setPort(i, ev.target.value)}
                      className="max-w-xs font-mono"
                      spellCheck={false}
                      autoComplete="off"
                      aria-invalid={e ? true : undefined}
                      disabled={disabled}
                      data-testid="service-form-port"
                    />
                    <RemoveButton label={`Remove port ${i + 1}`} onClick={() => set({ ports: value.ports.filter((_, j) => j !== i) })} />
                  </div>
                  <FieldError messages={e} />
                </li>
              );
            })}
          </ul>
        )}
        <FieldError messages={err("ports")} />
      </Section>

      <Section
        title="Environment"
        hint={compose ? "Values are compose text: ${VAR} is substituted, write $$ for a literal $." : "Paste KEY=value lines into a name field to add several at once."}
        action={<AddButton onClick={() => set({ environment: [...value.environment, { ...EMPTY_ENV }] })} testId="add-env">Add variable</AddButton>}
      >
        {value.environment.length === 0 ? (
          <p className="text-xs text-muted-foreground">No environment variables.</p>
        ) : (
          <ul className="space-y-2">
            {value.environment.map((r, i) => {
              const e = r.key ? err(`env.${r.key}`) : undefined;
              return (
                <li key={i}>
                  <div className="flex items-center gap-2">
                    <Input
                      aria-label={`Variable ${i + 1} name`}
                      placeholder="NAME"
                      value={r.key}
                      onChange={(ev) => setEnv(i, { key: ev.target.value })}
                      onPaste={(ev) => onEnvPaste(i, ev)}
                      className="w-2/5 font-mono"
                      spellCheck={false}
                      autoComplete="off"
                      disabled={disabled}
                      data-testid="service-form-env-key"
                    />
                    <span className="text-muted-foreground">=</span>
                    <Input
                      aria-label={`Variable ${i + 1} value`}
                      placeholder={r.value === null ? "(taken from the environment)" : "value"}
                      value={r.value ?? ""}
                      onChange={(ev) => setEnv(i, { value: ev.target.value })}
                      className="min-w-0 flex-1 font-mono"
                      spellCheck={false}
                      autoComplete="off"
                      aria-invalid={e ? true : undefined}
                      disabled={disabled}
                      data-testid="service-form-env-value"
                    />
                    <RemoveButton label={`Remove variable ${r.key || i + 1}`} onClick={() => set({ environment: value.environment.filter((_, j) => j !== i) })} />
                  </div>
                  <FieldError messages={e} />
                </li>
              );
            })}
          </ul>
        )}
        <FieldError messages={err("environment")} />
      </Section>

      {showVolumes && (
        <Section
          title="Volumes"
          hint="A volume name (kept by Docker) or a host path starting with / or ./ , mounted at a path in the container."
          action={<AddButton onClick={() => set({ volumes: [...value.volumes, { ...EMPTY_VOLUME }] })} testId="add-volume">Add volume</AddButton>}
        >
          {value.volumes.length === 0 ? (
            <p className="text-xs text-muted-foreground">No volumes: data inside the container is lost when it is recreated.</p>
          ) : (
            <ul className="space-y-2">
              {value.volumes.map((r, i) => {
                const e = err(`volume.${i}`);
                return (
                  <li key={i}>
                    <div className="flex flex-wrap items-center gap-2 sm:flex-nowrap">
                      <Input
                        aria-label={`Volume ${i + 1} source`}
                        placeholder="data or /srv/data"
                        value={r.source}
                        onChange={(ev) => setVolume(i, { source: ev.target.value })}
                        className="min-w-0 flex-1 font-mono"
                        spellCheck={false}
                        autoComplete="off"
                        disabled={disabled}
                        data-testid="service-form-volume-source"
                      />
                      <span className="text-muted-foreground max-sm:hidden">→</span>
                      <Input
                        aria-label={`Volume ${i + 1} container path`}
                        placeholder="/var/lib/data"
                        value={r.target}
                        onChange={(ev) => setVolume(i, { target: ev.target.value })}
                        className="min-w-0 flex-1 font-mono"
                        spellCheck={false}
                        autoComplete="off"
                        aria-invalid={e ? true : undefined}
                        disabled={disabled}
                        data-testid="service-form-volume-target"
                      />
                      <label className="flex shrink-0 cursor-pointer items-center gap-1.5 text-xs text-muted-foreground">
                        <Checkbox checked={r.read_only} onChange={(ev) => setVolume(i, { read_only: ev.target.checked })} disabled={disabled} />
                        Read-only
                      </label>
                      <RemoveButton label={`Remove volume ${i + 1}`} onClick={() => set({ volumes: value.volumes.filter((_, j) => j !== i) })} />
                    </div>
                    <FieldError messages={e} />
                  </li>
                );
              })}
            </ul>
          )}
          <FieldError messages={err("volumes")} />
        </Section>
      )}

      <div className="grid gap-4 sm:grid-cols-[14rem_1fr]">
        <div className="space-y-1.5">
          <Label htmlFor={`${uid}-restart`}>Restart policy</Label>
          <NativeSelect id={`${uid}-restart`} value={value.restart || "no"} onChange={(e) => set({ restart: e.target.value })} disabled={disabled} data-testid="service-form-restart">
            {restartOptions.map((r) => (
              <option key={r} value={r}>
                {r === "no" ? "no (never restart)" : r}
              </option>
            ))}
          </NativeSelect>
          <FieldError messages={err("restart")} />
        </div>
        <div className="min-w-0 space-y-1.5">
          <Label htmlFor={`${uid}-command`}>Command</Label>
          <Input
            id={`${uid}-command`}
            placeholder="The image's default"
            value={value.command}
            onChange={(e) => set({ command: e.target.value })}
            className={cn("font-mono")}
            spellCheck={false}
            autoComplete="off"
            aria-invalid={err("command") ? true : undefined}
            disabled={disabled}
            data-testid="service-form-command"
          />
          <FieldError messages={err("command")} />
        </div>
      </div>
    </div>
  );
}
