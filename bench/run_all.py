"""Run every benchmark in turn (`make bench`).

Each one starts its own server and removes what it created. A failing benchmark does not
stop the others; the exit status says whether any failed. `python bench/run_all.py
services_list events_latency` runs only those.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHES = [
    "bench.foundation",
    "bench.services_list",
    "bench.service_logs",
    "bench.events_latency",
    "bench.update_check",
    "bench.health_checks",
    "bench.analytics",
    "bench.metrics_sweep",
    "bench.fleet_agent",
    "bench.fleet_list",
    "bench.fleet_load",
]

if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    chosen = [f"bench.{name}" for name in sys.argv[1:]] or BENCHES
    failed = []
    for module in chosen:
        if subprocess.run([sys.executable, "-m", module], cwd=root, check=False).returncode:
            failed.append(module)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
