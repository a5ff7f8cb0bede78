import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { Plug, PlugZap, TerminalSquare } from "lucide-react";
import { useEffect, useRef, useState } from "react";
import { fetchTicket, wsOrigin } from "@/api/realtime";
import type { ServiceDetail } from "@/api/types";
import { EmptyState } from "@/components/EmptyState";
import { Button } from "@/components/ui/button";
import { NativeSelect } from "@/components/ui/input";

type Status = "idle" | "connecting" | "open" | "closed";

/** Interactive shell in one of the service's running containers (xterm.js over a WebSocket). */
export function TerminalTab({ service }: { service: ServiceDetail }) {
  const running = service.containers.filter((c) => c.state === "running");
  const [container, setContainer] = useState<string>(running[0]?.id ?? "");
  const [shell, setShell] = useState<"sh" | "bash">("sh");
  const [status, setStatus] = useState<Status>("idle");
  const [message, setMessage] = useState<string>("");
  const host = useRef<HTMLDivElement>(null);
  const term = useRef<Terminal | null>(null);
  const fit = useRef<FitAddon | null>(null);
  const socket = useRef<WebSocket | null>(null);

  useEffect(() => {
    if (!container && running[0]) setContainer(running[0].id);
  }, [container, running]);

  useEffect(() => {
    if (!host.current) return;
    const t = new Terminal({ cursorBlink: true, fontSize: 13, convertEol: false, theme: { background: "#09090b" } });
    const f = new FitAddon();
    t.loadAddon(f);
    t.open(host.current);
    f.fit();
    term.current = t;
    fit.current = f;
    const encoder = new TextEncoder();
    const input = t.onData((data) => {
      const ws = socket.current;
      if (ws?.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
    });
    const resize = t.onResize(({ cols, rows }) => {
      const ws = socket.current;
      if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", cols, rows }));
    });
    const onWindowResize = () => f.fit();
    window.addEventListener("resize", onWindowResize);
    return () => {
      window.removeEventListener("resize", onWindowResize);
      input.dispose();
      resize.dispose();
      socket.current?.close();
      t.dispose();
    };
  }, []);

  async function connect() {
    const t = term.current;
    if (!t || !container) return;
    socket.current?.close();
    setStatus("connecting");
    setMessage("");
    t.reset();
    fit.current?.fit();
    try {
      const ticket = await fetchTicket();
      if (ticket === "unavailable") throw new Error("The terminal is not available on this server.");
      const url =
        `${wsOrigin()}/api/v1/containers/${service.node_id}/${encodeURIComponent(container)}/exec` +
        `?ticket=${encodeURIComponent(ticket.ticket)}&cmd=${shell}&cols=${t.cols}&rows=${t.rows}`;
      const ws = new WebSocket(url);
      ws.binaryType = "arraybuffer";
      socket.current = ws;
      ws.onmessage = (event) => {
        if (typeof event.data === "string") {
          const msg = JSON.parse(event.data) as { type: string; code?: number | null; message?: string };
          if (msg.type === "ready") {
            setStatus("open");
            t.focus();
          } else if (msg.type === "exit") setMessage(`The shell exited (code ${msg.code ?? "?"}).`);
          else if (msg.type === "error" && msg.message) setMessage(msg.message);
        } else {
          t.write(new Uint8Array(event.data as ArrayBuffer));
        }
      };
      ws.onclose = (event) => {
        if (socket.current === ws) socket.current = null;
        setStatus("closed");
        if (event.reason) setMessage((m) => m || `Disconnected: ${event.reason}.`);
      };
    } catch (err) {
      setStatus("closed");
      setMessage(err instanceof Error ? err.message : String(err));
    }
  }

  function disconnect() {
    socket.current?.close(1000, "closed by user");
  }

  const live = status === "open" || status === "connecting";
  return (
    <div className="space-y-3" data-testid="terminal-tab">
      {running.length === 0 && <EmptyState icon={TerminalSquare} title="No running container" description="Start the service to open a terminal." />}
      <div className="flex flex-wrap items-center gap-2">
        <NativeSelect aria-label="Container" value={container} onChange={(e) => setContainer(e.target.value)} disabled={live} className="w-64">
          {running.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </NativeSelect>
        <NativeSelect aria-label="Shell" value={shell} onChange={(e) => setShell(e.target.value as "sh" | "bash")} disabled={live} className="w-28">
          <option value="sh">sh</option>
          <option value="bash">bash</option>
        </NativeSelect>
        {live ? (
          <Button variant="outline" onClick={disconnect} data-testid="terminal-disconnect">
            <Plug className="size-4" /> Disconnect
          </Button>
        ) : (
          <Button onClick={() => void connect()} disabled={!container} data-testid="terminal-connect">
            <PlugZap className="size-4" /> Connect
          </Button>
        )}
        <span className="text-sm text-muted-foreground" data-testid="terminal-status">
          {status === "open" ? "Connected" : status === "connecting" ? "Connecting…" : status === "closed" ? "Disconnected" : ""}
        </span>
      </div>
      {message && (
        <p className="text-sm text-amber-700 dark:text-amber-400" role="status">
          {message}
        </p>
      )}
      <div ref={host} className="h-[28rem] overflow-hidden rounded-md border bg-zinc-950 p-2" data-testid="terminal-screen" />
      <p className="text-xs text-muted-foreground">Sessions are audited (start, end, duration; never keystrokes) and close after inactivity.</p>
    </div>
  );
}
