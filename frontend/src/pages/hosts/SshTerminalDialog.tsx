import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { Plug, PlugZap } from "lucide-react";
import { useCallback, useEffect, useRef, useState } from "react";
import { fetchTicket, wsOrigin } from "@/api/realtime";
import type { TerminalMessage } from "@/api/ssh";
import { Button } from "@/components/ui/button";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogHeader, DialogTitle } from "@/components/ui/dialog";

type Status = "connecting" | "open" | "closed";

/** The web SSH terminal of one inventory host (xterm.js over `WS /api/v1/hosts/{id}/ssh`). */
export function SshTerminalDialog({ hostId, hostname, open, onOpenChange }: { hostId: number; hostname: string; open: boolean; onOpenChange: (o: boolean) => void }) {
  const [status, setStatus] = useState<Status>("closed");
  const [message, setMessage] = useState("");
  const [info, setInfo] = useState("");
  const [screen, setScreen] = useState<HTMLDivElement | null>(null);
  const term = useRef<Terminal | null>(null);
  const fit = useRef<FitAddon | null>(null);
  const socket = useRef<WebSocket | null>(null);

  const send = (payload: object) => {
    const ws = socket.current;
    if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(payload));
  };

  const connect = useCallback(async () => {
    const t = term.current;
    if (!t) return;
    socket.current?.close();
    setStatus("connecting");
    setMessage("");
    setInfo("");
    t.reset();
    fit.current?.fit();
    try {
      const ticket = await fetchTicket();
      if (ticket === "unavailable") throw new Error("The terminal is not available on this server.");
      const url = `${wsOrigin()}/api/v1/hosts/${hostId}/ssh?ticket=${encodeURIComponent(ticket.ticket)}&cols=${t.cols}&rows=${t.rows}`;
      const ws = new WebSocket(url);
      socket.current = ws;
      ws.onmessage = (event) => {
        if (typeof event.data !== "string") return;
        const msg = JSON.parse(event.data) as TerminalMessage;
        if (msg.type === "output") t.write(msg.data);
        else if (msg.type === "status") setInfo(msg.message);
        else if (msg.type === "connected") {
          setStatus("open");
          setInfo(`${msg.user}@${msg.host}:${msg.port} · host key ${msg.key_type ?? ""} ${msg.fingerprint ?? ""} · closes after ${Math.round(msg.idle_timeout_s / 60)} min idle`);
          t.focus();
        } else if (msg.type === "exit") setMessage(`The session ended (exit status ${msg.exit_status ?? "?"}).`);
        else if (msg.type === "error") setMessage(msg.message);
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
  }, [hostId]);

  useEffect(() => {
    if (!open || !screen) return;
    const t = new Terminal({ cursorBlink: true, fontSize: 13, theme: { background: "#09090b" } });
    const f = new FitAddon();
    t.loadAddon(f);
    t.open(screen);
    f.fit();
    term.current = t;
    fit.current = f;
    const input = t.onData((data) => send({ type: "input", data }));
    const resize = t.onResize(({ cols, rows }) => send({ type: "resize", cols, rows }));
    const observer = new ResizeObserver(() => f.fit());
    observer.observe(screen);
    void connect();
    return () => {
      observer.disconnect();
      input.dispose();
      resize.dispose();
      socket.current?.close(1000, "closed by user");
      socket.current = null;
      t.dispose();
      term.current = null;
    };
  }, [open, screen, connect]);

  const live = status !== "closed";
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent className="max-w-5xl" data-testid="ssh-terminal-dialog">
        <DialogHeader>
          <DialogTitle className="font-mono">SSH · {hostname}</DialogTitle>
          <DialogDescription data-testid="ssh-terminal-info">{info || "Sessions are audited (start, end, duration; never keystrokes)."}</DialogDescription>
        </DialogHeader>
        <DialogBody className="space-y-3">
          <div className="flex items-center gap-2">
            {live ? (
              <Button size="sm" variant="outline" onClick={() => socket.current?.close(1000, "closed by user")} data-testid="ssh-terminal-disconnect">
                <Plug className="size-4" /> Disconnect
              </Button>
            ) : (
              <Button size="sm" onClick={() => void connect()} data-testid="ssh-terminal-reconnect">
                <PlugZap className="size-4" /> Reconnect
              </Button>
            )}
            <span className="text-sm text-muted-foreground" data-testid="ssh-terminal-status">
              {status === "open" ? "Connected" : status === "connecting" ? "Connecting…" : "Disconnected"}
            </span>
          </div>
          {message && (
            <p className="text-sm text-amber-700 dark:text-amber-400" role="status" data-testid="ssh-terminal-message">
              {message}
            </p>
          )}
          <div ref={setScreen} className="h-[28rem] overflow-hidden rounded-md border bg-zinc-950 p-2" data-testid="ssh-terminal-screen" />
        </DialogBody>
      </DialogContent>
    </Dialog>
  );
}
