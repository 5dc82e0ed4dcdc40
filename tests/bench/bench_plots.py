"""Build time of every plotly view on ECNews-sized inputs (K=50, V=5000, 37,480 + 40,000 documents).

Run from the repo root: python tests/bench/bench_plots.py [--quick|--full]
(env LLMXTM_BENCH_SIZE=quick|full; quick = 1 repeat, full = 3 repeats; the input sizes are ECNews-sized in both).
Prints a markdown table and writes tests/bench/results/plots.json (shape: see the reliability notes).
"""
import datetime
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import plotly

from llmxtm_nb import plots

SIZES = {"K": 50, "V": 5000, "N1": 37480, "N2": 40000, "d": 384, "max_points": 6000}


def main():
    size = "full" if "--full" in sys.argv else "quick" if "--quick" in sys.argv else os.environ.get("LLMXTM_BENCH_SIZE", "quick")
    repeats = 3 if size == "full" else 1
    runs = [plots.figure_timings(seed=s, **SIZES) for s in range(repeats)]
    med = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
    cpu_runs = [plots.figure_timings(seed=s, clock="cpu", **SIZES) for s in range(repeats)]
    cpu = {k: float(np.median([r[k] for r in cpu_runs])) for k in cpu_runs[0]}
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    try:
        from llmxtm_nb import __version__ as ver
    except Exception:
        ver = None
    out = {"area": "plots", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": load,
                       "python": sys.version.split()[0]},
           "device": "cpu",
           "versions": {"plotly": plotly.__version__, "numpy": np.__version__, "llmxtm_nb": ver},
           "settings": {**SIZES, "size": size, "repeats": repeats},
           "figures": [{"name": f"{k} build time (ECNews-sized)", "value": v, "unit": "s", "better": "lower",
                        "tolerance": 1.0, "note": "building the figure object only, not rendering"}
                       for k, v in med.items()]
                      + [{"name": f"{k} CPU time (ECNews-sized)", "value": v, "unit": "s", "better": "lower",
                          "tolerance": 0.5, "note": "process CPU time: robust to other load on a shared machine"}
                         for k, v in cpu.items()],
           "median_seconds": med, "median_cpu_seconds": cpu, "all_seconds": runs, "all_cpu_seconds": cpu_runs}
    path = Path(__file__).parent / "results" / "plots.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print("| figure | wall s | CPU s |\n|---|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:.3f} | {cpu[k]:.3f} |")
    print(f"{size}: {repeats} repeat(s); load average {load}; written to {path}")


if __name__ == "__main__":
    main()
