"""Run every benchmark in turn (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHES = ["bench.foundation"]

if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    for module in BENCHES:
        subprocess.run([sys.executable, "-m", module], cwd=root, check=True)
