"""The agent's events journal: numbered engine events kept until the server acknowledges them.

- `add(event)` numbers an event (`seq`, monotonic across agent restarts) and keeps it.
- `ack(seq)` drops every event up to `seq` and persists the acknowledged seq.
- `after(seq)` lists what the server has not acknowledged (resent after a reconnect).

Persistence (`<data_dir>/events.json`, atomic replace): the acknowledged seq and a
reserved ceiling for seq numbers. Seqs are reserved in blocks, so a restarted agent never
reuses a number the server may already have acknowledged, without a disk write per event.
At most `max_unacked` events are kept; beyond that the oldest are dropped (the fresh
`state` sent on every reconnect covers what they said).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from dockyard.agent.protocol import MAX_UNACKED_EVENTS, EventItem

SEQ_BLOCK = 1000


class EventJournal:
    def __init__(
        self,
        path: Path | None,
        *,
        max_unacked: int = MAX_UNACKED_EVENTS,
        seq_block: int = SEQ_BLOCK,
        save_interval_s: float = 1.0,
    ) -> None:
        self.path = path
        self.max_unacked = max_unacked
        self.seq_block = seq_block
        self._items: deque[EventItem] = deque()
        self.acked_seq = 0
        self._reserved = 0
        self.dropped = 0  # events dropped because the buffer was full
        self.save_interval_s = save_interval_s
        self._saved_at = -float("inf")
        stored = self._load()
        self.acked_seq = int(stored.get("acked_seq", 0))
        # Start above everything a previous process may have handed out.
        self.last_seq = max(int(stored.get("reserved_seq", 0)), self.acked_seq)
        self._reserved = self.last_seq

    def _load(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def flush(self) -> None:
        """Persist the acknowledged seq now (on shutdown)."""
        self._save()

    def _save(self) -> None:
        self._saved_at = time.monotonic()
        if self.path is None:
            return
        atomic_write(
            self.path,
            json.dumps({"acked_seq": self.acked_seq, "reserved_seq": self._reserved}),
        )

    def __len__(self) -> int:
        return len(self._items)

    def add(self, event: dict[str, Any]) -> EventItem:
        self.last_seq += 1
        if self.last_seq > self._reserved:
            self._reserved = self.last_seq + self.seq_block
            self._save()
        item = EventItem(seq=self.last_seq, event=event)
        self._items.append(item)
        while len(self._items) > self.max_unacked:
            self._items.popleft()
            self.dropped += 1
        return item

    def ack(self, seq: int) -> None:
        """The server applied every event up to `seq`."""
        if seq <= self.acked_seq:
            return
        seq = min(seq, self.last_seq)
        while self._items and self._items[0].seq <= seq:
            self._items.popleft()
        if seq > self.acked_seq:
            self.acked_seq = seq
            # At most one write a second: a lost ack only means a few events sent twice
            # (the server ignores seqs it applied); seqs themselves are reserved ahead.
            now = time.monotonic()
            if now - self._saved_at >= self.save_interval_s:
                self._save()

    def resume_from(self, server_acked: int) -> None:
        """After `welcome`: trust the server's acknowledged seq (it applied those)."""
        if server_acked > self.last_seq:
            # The server knows higher seqs than this journal (data dir reset): jump past them.
            self.last_seq = server_acked
            self._reserved = server_acked + self.seq_block
            self._save()
        self.ack(server_acked)

    def after(self, seq: int, limit: int | None = None) -> list[EventItem]:
        """Unacknowledged events with a seq above `seq`, oldest first."""
        out: list[EventItem] = []
        for item in self._items:
            if item.seq > seq:
                out.append(item)
                if limit is not None and len(out) >= limit:
                    break
        return out


def atomic_write(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Write `text` to `path` via a temporary file and rename (0600 by default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
