# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Python interpreter wrapper that records the peak memory of a module process.

Used as ``ansible_python_interpreter: "<venv python> bench/maxrss.py"``: Ansible
then starts ``<venv python> bench/maxrss.py AnsiballZ_rules.py``. This wrapper
runs the real interpreter on the same arguments as its only child (AnsiballZ
runs the module in that process), passes stdin, stdout and the exit code
through, and appends the child's peak resident set size (``ru_maxrss`` of
RUSAGE_CHILDREN, in KiB on Linux) and its wall time to the file named by
BENCH_MAXRSS_FILE.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    child = subprocess.run([sys.executable, *argv], check=False)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    target = os.environ.get("BENCH_MAXRSS_FILE")
    if target:
        entry = {"argv0": os.path.basename(argv[0]) if argv else "", "maxrss_kib": peak_kib, "seconds": seconds}
        with open(target, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
    return child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
