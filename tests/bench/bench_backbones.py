"""Speed and memory of the Phase-1 backbones (and, with --full, their evaluation).

Speed mode (default): for each dataset x backbone x variant ('fast' = ours, 'reference' = the dense V x V
formulation of the public implementations, same model otherwise; 'lite' = XTRA-lite, the opt-in changed XTRA of
llmxtm_nb.xtra.XTRA_LITE, XTRA only), a fresh child process builds the model and
trains it for `--batches` steps (0: one whole epoch); it reports seconds per step, seconds per epoch
(= s/step x batches per epoch; measured directly when a whole epoch ran) and the child's peak RSS.
Fast and reference run alternately in the same session so their ratio is measured under the same load.

    nice -n 10 python tests/bench/bench_backbones.py --datasets ECNews --backbones NMTM,InfoCTM,XTRA
    nice -n 10 python tests/bench/bench_backbones.py --full --datasets ECNews --backbones NMTM --epochs 20 --seeds 0

--full trains with the paper's epochs (or --epochs) per seed and evaluates with llmxtm_nb.evaluate
(TU, CNPMI on the substitute reference corpora, TQ, classification). XTRA needs document embeddings:
--xtra-embeddings encoder (llmxtm_nb.encoders, cached; slow on a CPU for the benchmarks) or random (unit
vectors: fine for timing, meaningless for quality; the default in speed mode).
Results: tests/bench/results/backbones.json (speed) and backbones_full.json (--full), merged by key.
A speed run on ECNews ends with the backbone issue's targets checked on its own rows (speed-up over the public
codes' epoch times as the issue gives them, XTRA's epoch over NMTM's in the same run, peak RSS under 1.5 GB); the
newest run with all three backbones supplies the `target:` figures of BENCHMARKS.md. `--refigure` recomputes the
figures from the recorded runs without running anything.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _load(dataset):
    from llmxtm_nb.data import load_corpus
    return load_corpus(dataset)


def _build(backbone, corpus, variant, xtra_embeddings, seed, K):
    import numpy as np
    from llmxtm_nb.trainer import build_backbone
    kw = {"num_topics": K, "seed": seed}
    if backbone.lower() != "xtra":
        if variant == "lite":
            raise SystemExit("only XTRA has a lite variant")
        kw["reference"] = variant == "reference"
    else:
        if variant == "reference":
            raise SystemExit("XTRA has no dense reference variant")
        if variant == "lite":
            from llmxtm_nb.xtra import XTRA_LITE
            kw.update(XTRA_LITE)
        if xtra_embeddings == "random":
            rng = np.random.default_rng(seed)
            H = [rng.normal(size=(s.n_docs("train"), 384)).astype(np.float32) for s in corpus.sides]
            kw["doc_embeddings"] = tuple(h / np.linalg.norm(h, axis=1, keepdims=True) for h in H)
    return build_backbone(backbone, corpus, **kw)


def child_speed(a):
    import torch
    torch.set_num_threads(a.threads)
    from llmxtm_nb.core import set_progress
    from llmxtm_nb.trainer import Trainer
    set_progress(False)
    t0 = time.time()
    corpus = _load(a.one[1])
    model = _build(a.one[0], corpus, a.one[2], a.xtra_embeddings, 0, a.K)
    setup = time.time() - t0
    tr = Trainer(model, corpus, device="cpu", show_progress=False)
    n_epoch = len(tr.batches(0))
    steps = n_epoch if a.batches <= 0 else min(a.batches, n_epoch)
    model.train()
    tr.train_step(next(iter(tr.batches(1))))  # warm-up step (another epoch's first batch), not timed
    it = iter(tr.batches(0))
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    for i in range(steps):
        tr.train_step(next(it))
    wall = time.perf_counter() - t_start
    cpu = time.process_time() - cpu_start
    per_step = wall / steps
    out = {"backbone": a.one[0], "dataset": a.one[1], "variant": a.one[2], "steps_timed": steps,
           "batches_per_epoch": n_epoch, "s_per_step": per_step, "s_per_epoch": per_step * n_epoch,
           "epoch_measured_directly": steps == n_epoch, "setup_s": setup,
           "cpu_s_per_step": cpu / steps, "cpu_s_per_epoch": cpu / steps * n_epoch,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "n_params": sum(p.numel() for p in model.parameters()),
           "n_buffer_values": sum(b._nnz() if b.is_sparse else b.numel() for b in model.buffers()),
           "threads": torch.get_num_threads(), "loadavg_end": os.getloadavg()}
    print("RESULT " + json.dumps(out))


def child_full(a):
    import numpy as np
    import torch
    torch.set_num_threads(a.threads)
    from llmxtm_nb.core import set_progress
    from llmxtm_nb.trainer import Trainer
    from llmxtm_nb.evaluate import evaluate
    set_progress(False)
    backbone, dataset, seed = a.one[0], a.one[1], int(a.one[2])
    corpus = _load(dataset)
    model = _build(backbone, corpus, "fast", a.xtra_embeddings, seed, a.K)
    tr = Trainer(model, corpus, device="cpu", seed=seed, show_progress=False,
                 epochs=a.epochs if a.epochs else None)
    t = time.time()
    hist = tr.fit()
    train_s = time.time() - t
    from llmxtm_nb.core import cache_dir
    saved = model.save(cache_dir("bench") / f"{backbone}-{dataset}-seed{seed}-ep{tr.epochs}.pt")  # re-evaluate without retraining
    try:
        ev = evaluate(model, corpus, max_train=a.max_train or None)
    except Exception as e:  # keep the training result even if evaluation fails
        ev = {"metrics": None, "notes": [f"evaluation failed: {type(e).__name__}: {e}"]}
    out = {"backbone": backbone, "dataset": dataset, "seed": seed, "epochs": tr.epochs,
           "paper_epochs": not a.epochs, "max_train": a.max_train or "all", "threads": a.threads, "train_s": train_s, "final_loss": hist[-1]["loss"],
           "metrics": ev.get("metrics"), "notes": ev.get("notes"), "reference": str(ev.get("reference")),
           "xtra_embeddings": a.xtra_embeddings if backbone.lower() == "xtra" else None, "model_file": str(saved),
           "history": [{k: round(v, 4) for k, v in h.items()} for h in hist],
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print("RESULT " + json.dumps(out, default=str))


def run_child(args, extra):
    cmd = [sys.executable, __file__, *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (p.stderr or p.stdout)[-2000:], "cmd": " ".join(extra)}


def machine():
    import torch
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
            "torch": torch.__version__, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "loadavg_start": os.getloadavg(), "nice": os.nice(0)}


def save(name, key, rows, meta):
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    data = json.loads(path.read_text()) if path.exists() else {"area": "backbones", "runs": {}}
    data["runs"][key] = {"meta": meta, "rows": rows}
    data.update(shared_figures(data))
    from llmxtm_nb.core import atomic_write_json
    atomic_write_json(path, data)
    return path


# The measurements of the public implementations on this machine (ECNews, K = 50, batch 128, 2 threads),
# and its targets. The public codes are not run here, so these ratios are not measured side by side; the side-by-side
# ones are ours against our dense reference and XTRA against NMTM in one run.
PUBLIC_S_PER_EPOCH = {"NMTM": 22.0, "InfoCTM": 414.0}
SPEEDUP_TARGET = {"NMTM": 5.0, "InfoCTM": 10.0}
XTRA_OVER_NMTM_TARGET = 2.0
PEAK_RSS_TARGET_MB = 1536.0


def target_report(rows, dataset="ECNews"):
    """The issue's speed and memory targets checked on one run's `rows`: a list of (figure name, value, unit, target
    text, met) for what the rows allow (each needs the 'fast' row of its backbone on `dataset`)."""
    fast = {r["backbone"]: r for r in rows
            if r.get("dataset") == dataset and r.get("variant") == "fast" and "s_per_epoch" in r}
    ref = {r["backbone"]: r for r in rows
           if r.get("dataset") == dataset and r.get("variant") == "reference" and "s_per_epoch" in r}
    out = []
    for bb, public in PUBLIC_S_PER_EPOCH.items():
        if bb in fast:
            x = public / fast[bb]["s_per_epoch"]
            out.append((f"{bb} {dataset}, {fast[bb].get('threads')} thread(s): speed-up over the public code "
                        f"({public:g} s/epoch at 2 threads, the issue's figure)", x, "x",
                        f">= {SPEEDUP_TARGET[bb]:g}x", x >= SPEEDUP_TARGET[bb]))
        if bb in fast and bb in ref:
            out.append((f"{bb} {dataset}: speed-up over our dense reference (same run)",
                        ref[bb]["s_per_epoch"] / fast[bb]["s_per_epoch"], "x", "", None))
    if "XTRA" in fast and "NMTM" in fast:
        x = fast["XTRA"]["s_per_epoch"] / fast["NMTM"]["s_per_epoch"]
        out.append((f"XTRA {dataset}: epoch / NMTM epoch (same run)", x, "x", f"<= {XTRA_OVER_NMTM_TARGET:g}x",
                    x <= XTRA_OVER_NMTM_TARGET))
    lite = [r for r in rows if r.get("dataset") == dataset and r.get("variant") == "lite" and "s_per_epoch" in r]
    if lite and "NMTM" in fast:   # informative only: XTRA-lite is a changed model, not the published XTRA
        out.append((f"XTRA-lite {dataset} (opt-in changed model): epoch / NMTM epoch (same run)",
                    lite[0]["s_per_epoch"] / fast["NMTM"]["s_per_epoch"], "x", "", None))
    for bb, r in sorted(fast.items()):
        if "peak_rss_mb" in r:
            out.append((f"{bb} {dataset}: peak RSS", r["peak_rss_mb"], "MiB",
                        f"< {PEAK_RSS_TARGET_MB:g} MiB", r["peak_rss_mb"] < PEAK_RSS_TARGET_MB))
    return out


def merge_repeats(rounds):
    """One row per (backbone, dataset, variant) from several rounds of speed rows: the median epoch (wall and CPU),
    every round's epoch kept, the largest peak RSS. A row that failed in any round is kept as it is."""
    import statistics
    groups, order, failed = {}, [], []
    for rows in rounds:
        for r in rows:
            if "error" in r:
                failed.append(r); continue
            key = (r["backbone"], r["dataset"], r["variant"])
            if key not in groups: groups[key] = []; order.append(key)
            groups[key].append(r)
    out = []
    for key in order:
        rs = groups[key]
        if len(rs) == 1:
            out.append(rs[0]); continue
        out.append({**rs[0], "s_per_epoch": statistics.median(r["s_per_epoch"] for r in rs),
                    "s_per_step": statistics.median(r["s_per_step"] for r in rs),
                    "cpu_s_per_epoch": statistics.median(r["cpu_s_per_epoch"] for r in rs),
                    "cpu_s_per_step": statistics.median(r["cpu_s_per_step"] for r in rs),
                    "peak_rss_mb": max(r["peak_rss_mb"] for r in rs), "repeats": len(rs),
                    "repeats_s_per_epoch": [r["s_per_epoch"] for r in rs],
                    "loadavg_end": rs[-1]["loadavg_end"]})
    return out + failed


def print_targets(rows):
    for name, value, unit, target, met in target_report(rows):
        verdict = "" if met is None else ("  met" if met else "  NOT met")
        print(f"  {name}: {value:.{0 if unit == 'MiB' else 2}f} {unit}" + (f" (target {target}){verdict}" if target else ""))


def shared_figures(data):
    "The latest figure per (backbone, dataset, variant) in the shared shape that `llmxtm bench` tables and compares."
    from llmxtm_nb.bench import bench_result, figure
    latest, dates = {}, []
    runs = sorted(data["runs"].values(), key=lambda run: str(run["meta"].get("machine", {}).get("date", "")))
    for run in runs:  # oldest first, so the newest measurement of each configuration wins
        dates.append(str(run["meta"].get("machine", {}).get("date", "")))
        for r in run["rows"]:
            latest[(r.get("backbone"), r.get("dataset"), r.get("variant", "full"))] = r
    figs = []
    for (bb, ds, var), r in sorted(latest.items(), key=str):
        if "s_per_epoch" in r:
            figs.append(figure(f"{bb} {ds} {var}: wall s/epoch", round(r["s_per_epoch"], 2), "s",
                               note=f"threads={r.get('threads')}" + (f", median of {r['repeats']} fresh-process epochs "
                                    f"{[round(x, 2) for x in r['repeats_s_per_epoch']]}" if r.get("repeats") else "")))
        if "cpu_s_per_epoch" in r:
            figs.append(figure(f"{bb} {ds} {var}: CPU s/epoch", round(r["cpu_s_per_epoch"], 2), "s",
                               note=f"threads={r.get('threads')}, {'whole epoch' if r.get('epoch_measured_directly') else 'extrapolated from %s steps' % r.get('steps_timed')}"))
        if "peak_rss_mb" in r:
            figs.append(figure(f"{bb} {ds} {var}: peak RSS", round(r["peak_rss_mb"]), "MiB"))
        met = r.get("metrics") or {}
        for m in ["TU", "CNPMI", "TQ"] + sorted(k for k in met if len(k) == 4 and k[2] == "-" and k[3] in "IC"):
            v = met.get(m)
            if isinstance(v, (int, float)):
                figs.append(figure(f"{bb} {ds} {var} (seed {r.get('seed')}, {r.get('epochs')} epochs): {m}", round(v, 4),
                                   better="higher", tolerance=0.02))
    # the targets from the newest run that has all three backbones' fast rows on ECNews (ratios within one run)
    complete = [run for run in runs
                if {"NMTM", "InfoCTM", "XTRA"} <= {r.get("backbone") for r in run["rows"]
                                                  if r.get("dataset") == "ECNews" and r.get("variant") == "fast"}]
    if complete:
        run = complete[-1]
        when = run["meta"].get("machine", {}).get("date", "")
        for name, value, unit, target, met in target_report(run["rows"]):
            better = "lower" if unit == "MiB" or "/ NMTM" in name else "higher"
            figs.append(figure(f"target: {name} (target {target})" if target else f"ratio: {name}",
                               round(value, 2 if unit == "x" else 0), unit, better=better,
                               note=f"run {when}" + (f"; target {target}: {'met' if met else 'not met'}" if target else "")))
    res = bench_result("backbones", figs, settings={"K": 50, "batch_size": 128, "seeds": "see figure names"}, device="cpu")
    # The figures were measured when their runs were made, not now: say so.
    res["date"] = f"measured {min(dates)} to {max(dates)}" if dates else res["date"]
    res["machine"] = dict(runs[-1]["meta"].get("machine", {})) if runs else res["machine"]
    return res


def refigure(path=RESULTS / "backbones.json"):
    "Rewrite the speed results' figures from their recorded runs (after the figures' definitions change)."
    from llmxtm_nb.core import atomic_write_json
    data = json.loads(path.read_text())
    data.update(shared_figures(data))
    atomic_write_json(path, data)
    print("rewritten", path)
    for run_key, run in data["runs"].items():
        if target_report(run["rows"]):
            print(f"{run_key}:"); print_targets(run["rows"])


def one_round(a):
    "Every configuration once, each in a fresh process: the rows, printed as they come."
    rows = []
    for ds in a.datasets.split(","):
        for bb in a.backbones.split(","):
            if a.full:
                for seed in a.seeds.split(","):
                    r = run_child(a, ["--full", "--one", bb, ds, seed, "--K", str(a.K), "--epochs", str(a.epochs), "--threads", str(a.threads),
                                      "--max-train", str(a.max_train), "--xtra-embeddings", a.xtra_embeddings])
                    rows.append(r); print(json.dumps(r, default=str), flush=True)
                continue
            for var in a.variants.split(","):
                is_xtra = bb.lower() == "xtra"
                if (is_xtra and var == "reference") or (not is_xtra and var == "lite"):
                    continue   # XTRA has no dense reference; only XTRA has a lite variant
                nb = a.reference_batches if var == "reference" else a.batches
                r = run_child(a, ["--one", bb, ds, var, "--batches", str(nb), "--K", str(a.K), "--threads", str(a.threads),
                                  "--xtra-embeddings", a.xtra_embeddings])
                rows.append(r)
                if "error" in r:
                    print("ERROR", r, flush=True)
                else:
                    print(f"{ds:15s} {bb:8s} {var:9s} {r['s_per_epoch']:8.1f} s/epoch "
                          f"({r['s_per_step']*1000:.0f} ms/step x {r['batches_per_epoch']}, "
                          f"{'whole epoch' if r['epoch_measured_directly'] else 'from %d steps' % r['steps_timed']}) "
                          f"cpu {r['cpu_s_per_epoch']:.1f} s/epoch, peak RSS {r['peak_rss_mb']:.0f} MB  load {r['loadavg_end'][0]:.1f}", flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="ECNews")
    ap.add_argument("--backbones", default="NMTM,InfoCTM,XTRA")
    ap.add_argument("--variants", default="fast,reference", help="fast (ours), reference (the dense formulation; not "
                    "XTRA) and lite (XTRA only: the opt-in changed XTRA_LITE of llmxtm_nb.xtra)")
    ap.add_argument("--batches", type=int, default=0, help="timed steps per run (0: one whole epoch)")
    ap.add_argument("--reference-batches", type=int, default=10, help="timed steps for the slow reference variant")
    ap.add_argument("--repeats", type=int, default=1, help="speed: rounds over every configuration (fresh processes, "
                    "in turn, so that the machine's drift hits all alike); rows keep the median epoch and every round's")
    ap.add_argument("--K", type=int, default=50)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--epochs", type=int, default=0, help="--full: epochs (0: the paper's)")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--max-train", type=int, default=0, help="--full: subsample SVM training sets (0: all)")
    ap.add_argument("--xtra-embeddings", default=None, choices=["random", "encoder"])
    ap.add_argument("--key", default=None, help="name of this run in the results file")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads per run (1: on a shared, oversubscribed machine OpenMP with 2 threads was "
                         "17x slower per step than 1 thread on 2026-11-27, load ~22)")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--refigure", action="store_true",
                    help="recompute the figures of the results files from their recorded runs, run nothing")
    a = ap.parse_args()
    if a.refigure:
        return refigure()
    if a.xtra_embeddings is None:
        a.xtra_embeddings = "encoder" if a.full else "random"
    if a.one:
        return child_full(a) if a.full else child_speed(a)
    meta = {"machine": machine(), "args": vars(a)}
    rounds = [one_round(a) for _ in range(1 if a.full else max(1, a.repeats))]
    rows = merge_repeats(rounds) if len(rounds) > 1 else rounds[0]
    if len(rounds) > 1:
        print(f"median of {len(rounds)} rounds:", ", ".join(f"{r['backbone']} {r['dataset']} {r['variant']} "
                                                           f"{r['s_per_epoch']:.2f} s" for r in rows if "error" not in r))
    if not a.full and target_report(rows):
        print("Targets of the backbone issue (ECNews):")
        print_targets(rows)
    meta["machine"]["loadavg_end"] = os.getloadavg()
    key = a.key or ("full" if a.full else "speed") + "-" + meta["machine"]["date"]
    path = save("backbones_full.json" if a.full else "backbones.json", key, rows, meta)
    print("written", path)


if __name__ == "__main__":
    main()
