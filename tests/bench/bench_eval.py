"""Evaluation speed: CNPMI (K=50 x 15 x 15 over the 14,110-pair EN-JA reference corpus) and SVM classification
on ECNews' full train/test sets.

Run:  python tests/bench/bench_eval.py [--quick|--full] [--theta lda|random|both] [--max-train N]
                                      [--skip-classify] [--skip-cnpmi]
      -> prints tables, writes tests/bench/results/eval.json (shared benchmark shape: "figures" list)
Size: --quick/--full, else env LLMXTM_BENCH_SIZE (default quick). quick (< 2 min): CNPMI + SVM on random θ with
3,000 training documents per language; full: CNPMI + SVM on LDA θ of the full ECNews training sets (+ 5,000).
Needs the shared data folder (../shared/data or $LLMXTM_SHARED_DATA).

CNPMI timings:
  cold      first call in a fresh process with an empty index cache: read + index both files + score
  disk      first call in a fresh in-process cache, index read back from cache_dir('cnpmi')
  repeat    further calls on the already indexed corpus (new random topics each time; median of 5)
  naive     a per-pair corpus scan (the obvious implementation), timed on 2 topics and scaled to 50 —
            the ratio shows what the sparse algebra buys; its values are checked against ours.
"""
import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp
import sklearn


def machine():
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": load, "python": sys.version.split()[0]}


def random_topics(rng, vocab, K=50, N=15):
    vocab = np.asarray(vocab, dtype=object)
    return [list(rng.choice(vocab, N, replace=False)) for _ in range(K)]


def bench_cnpmi(data):
    from llmxtm_nb import cnpmi as cn

    rng = np.random.default_rng(0)
    d = data / "Rakuten_Amazon"  # EN-JA topics are drawn from the EN-JA benchmark's vocabularies
    v1 = (d / "vocab_en").read_text(encoding="utf-8").split()
    v2 = (d / "vocab_ja").read_text(encoding="utf-8").split()
    T1, T2 = random_topics(rng, v1), random_topics(rng, v2)
    files = cn.reference_paths(("en", "ja"), data_dir=data)
    res = {"reference": [str(files[0][0]), str(files[1][0])], "K": 50, "N": 15}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LLMXTM_CACHE_DIR"] = tmp
        cn._CACHE.clear()
        t, c = time.perf_counter(), time.process_time()
        ref = cn.ReferenceCorpus.from_files(*files, langs=("en", "ja"))
        t_index = time.perf_counter() - t
        score = ref.cnpmi(T1, T2)
        res["cold_first_call_s"] = time.perf_counter() - t
        res["cold_first_call_cpu_s"] = time.process_time() - c
        res["cold_index_s"] = t_index
        res["cnpmi_random_topics"] = score
        reps = []
        for i in range(5):
            a, b = random_topics(rng, v1), random_topics(rng, v2)
            t = time.perf_counter(); ref.cnpmi(a, b); reps.append(time.perf_counter() - t)
        res["repeat_call_s_median"] = float(np.median(reps))
        t = time.perf_counter(); ref.cnpmi(T1, T2, marginals="docfreq"); res["repeat_call_docfreq_s"] = time.perf_counter() - t
        cn._CACHE.clear()
        t = time.perf_counter()
        ref2 = cn.ReferenceCorpus.from_files(*files, langs=("en", "ja"))
        s2 = ref2.cnpmi(T1, T2)
        res["disk_cached_first_call_s"] = time.perf_counter() - t
        assert abs(s2 - score) < 1e-12
    res["n_docs"] = ref.n_docs
    # naive per-pair scan on 2 topics (documents as token sets, prepared once), scaled to 50 topics
    docs1 = [set(x.split()) for x in cn.read_documents(files[0][0])]
    docs2 = [set(x.split()) for x in cn.read_documents(files[1][0])]
    cnt1 = np.asarray(ref.counts[0].sum(0)).ravel(); cnt2 = np.asarray(ref.counts[1].sum(0)).ravel()
    W = len(docs1)
    t = time.perf_counter()
    naive = []
    for a, b in zip(T1[:2], T2[:2]):
        for w1 in a:
            for w2 in b:
                c12 = sum(1 for x, y in zip(docs1, docs2) if w1 in x and w2 in y)
                i1, i2 = ref._index[0].get(w1), ref._index[1].get(w2)
                c1 = cnt1[i1] if i1 is not None else 0
                c2 = cnt2[i2] if i2 is not None else 0
                naive.append(0.0 if not (c1 and c2 and c12) else np.log(c12 * W / (c1 * c2)) / -np.log(c12 / W))
    res["naive_2_topics_s"] = time.perf_counter() - t
    res["naive_50_topics_extrapolated_s"] = res["naive_2_topics_s"] * 25
    ours = ref.cnpmi(T1[:2], T2[:2], per_topic=True)[1]
    assert np.allclose(ours, np.array(naive).reshape(2, -1).mean(1)), (ours, naive)
    return res


def load_ecnews(data):
    d = data / "ECNews"
    out = {}
    for lang in ("en", "cn"):
        for split in ("train", "test"):
            out[f"bow_{split}_{lang}"] = sp.load_npz(d / f"{split}_bow_matrix_{lang}.npz").astype(np.float32)
            out[f"y_{split}_{lang}"] = np.loadtxt(d / f"{split}_labels_{lang}.txt", dtype=int)
    return out


def bench_classify(data, theta_kind, max_train):
    from llmxtm_nb.classify import classification_scores

    ec = load_ecnews(data)
    res = {"dataset": "ECNews", "K": 50, "theta": theta_kind, "max_train": max_train,
           "sizes": {k: int(v.shape[0]) for k, v in ec.items() if k.startswith("bow")}}
    th = {}
    t = time.perf_counter()
    if theta_kind == "random":
        rng = np.random.default_rng(0)
        for k, v in ec.items():
            if k.startswith("bow"):
                th[k.replace("bow", "theta")] = rng.dirichlet(np.full(50, 0.1), v.shape[0])
    elif theta_kind == "planted":  # synthetic but informative θ: Dirichlet noise tilted towards 8 topics per class
        rng = np.random.default_rng(0)
        for k, v in ec.items():
            if k.startswith("bow"):
                y = ec[k.replace("bow", "y")]
                classes = np.unique(np.concatenate([ec["y_train_en"], ec["y_train_cn"]]))
                alpha = np.full((len(y), 50), 0.1)
                for i, c in enumerate(classes):
                    alpha[y == c, 8 * i:8 * i + 8] += 0.3
                th[k.replace("bow", "theta")] = np.array([rng.dirichlet(a) for a in alpha])
    else:  # LDA per language (topics not aligned across languages: -C numbers are meaningless, timing is not)
        from sklearn.decomposition import LatentDirichletAllocation
        for lang in ("en", "cn"):
            lda = LatentDirichletAllocation(50, learning_method="online", max_iter=3, batch_size=2048, random_state=0)
            th[f"theta_train_{lang}"] = lda.fit_transform(ec[f"bow_train_{lang}"])
            th[f"theta_test_{lang}"] = lda.transform(ec[f"bow_test_{lang}"])
    res["theta_seconds"] = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    r = classification_scores(th["theta_train_en"], ec["y_train_en"], th["theta_test_en"], ec["y_test_en"],
                              th["theta_train_cn"], ec["y_train_cn"], th["theta_test_cn"], ec["y_test_cn"],
                              langs=("en", "cn"), max_train=max_train, seed=0)
    res["classify_wall_s"] = time.perf_counter() - t
    res["classify_cpu_s"] = time.process_time() - c
    res["scores"] = r
    return res


def figures(out):
    "Flat list of headline figures in the shared benchmark shape."
    f = []
    c = out.get("cnpmi")
    if c:
        f += [{"name": "cnpmi_first_call_incl_indexing_cpu", "value": c["cold_first_call_cpu_s"], "unit": "CPU s", "better": "lower",
               "note": "K=50x15x15, enja_kyoto 14,110 pairs, empty index cache (target < 10 s); CPU time: load-independent"},
              {"name": "cnpmi_first_call_incl_indexing", "value": c["cold_first_call_s"], "unit": "s", "better": "lower",
               "note": f"wall clock at load average {c.get('machine', {}).get('loadavg')}"},
              {"name": "cnpmi_first_call_disk_cached_index", "value": c["disk_cached_first_call_s"], "unit": "s", "better": "lower"},
              {"name": "cnpmi_repeated_call", "value": c["repeat_call_s_median"], "unit": "s", "better": "lower",
               "note": "median of 5, new random topics each (target < 1 s)"},
              {"name": "cnpmi_naive_pair_scan_extrapolated", "value": c["naive_50_topics_extrapolated_s"], "unit": "s",
               "better": "lower", "note": "the obvious per-pair scan, for the ratio"}]
    for key, r in sorted(out.get("classify", {}).items()):
        f.append({"name": f"classify_ecnews_{key}_cpu", "value": r["classify_cpu_s"], "unit": "CPU s", "better": "lower",
                  "note": f"2 SVC fits + 4 predictions; train sizes {r['scores'].get('train_size_en')}/{r['scores'].get('train_size_cn')}; "
                          f"wall {r['classify_wall_s']:.1f} s at load average {r.get('machine', {}).get('loadavg')}"})
    return f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--theta", default=None, choices=["lda", "random", "planted", "both"])
    ap.add_argument("--max-train", type=int, default=None, help="subsample size for an extra (or, in quick mode, the only) run")
    ap.add_argument("--skip-classify", action="store_true")
    ap.add_argument("--skip-cnpmi", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    size = "quick" if args.quick else "full" if args.full else os.environ.get("LLMXTM_BENCH_SIZE", "quick")
    # quick (< 2 min): CNPMI + classification with random θ on a 3,000-document subsample of each training set.
    # full: CNPMI + classification on the full ECNews training sets with LDA θ (and a 5,000-document subsample).
    theta = args.theta or ("random" if size == "quick" else "lda")
    max_train = args.max_train if args.max_train is not None else (3000 if size == "quick" else 5000)
    from llmxtm_nb.core import shared_data_dir, set_progress
    set_progress(False)
    data = shared_data_dir()
    if data is None:
        sys.exit("shared data folder absent: nothing to benchmark")
    path = Path(__file__).parent / "results" / "eval.json"
    out = {"area": "evaluation", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(), "device": "cpu", "size": size,
           "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__},
           "settings": {"K": 50, "N": 15, "reference": "enja_kyoto", "classify_dataset": "ECNews", "theta": theta,
                        "max_train": max_train, "seed": 0},
           "note": "CNPMI figures use a substitute reference corpus: valid for comparing systems, not with the paper's numbers"}
    if not args.skip_cnpmi:
        out["cnpmi"] = c = bench_cnpmi(data)
        out["cnpmi"]["machine"] = machine()
        print("| CNPMI, K=50 x 15 x 15, enja_kyoto (14,110 pairs) | seconds |\n|---|---:|")
        for k in ("cold_first_call_s", "cold_first_call_cpu_s", "cold_index_s", "disk_cached_first_call_s",
                  "repeat_call_s_median", "repeat_call_docfreq_s", "naive_50_topics_extrapolated_s"):
            print(f"| {k} | {c[k]:.3f} |")
    if not args.skip_classify:
        kinds = ["lda", "random"] if theta == "both" else [theta]
        runs = [max_train] if size == "quick" else [max_train, None]
        out["classify"] = {}
        for kind in kinds:
            for mt in runs:
                r = bench_classify(data, kind, mt)
                r["machine"] = machine()
                out["classify"][f"{kind}_max{mt or 'all'}"] = r
                s = r["scores"]
                print(f"classify ECNews theta={kind} max_train={mt or 'all'}: {r['classify_wall_s']:.1f} s wall, "
                      f"{r['classify_cpu_s']:.1f} s CPU (theta {r['theta_seconds']:.1f} s) EN-I {s['EN-I']:.3f} "
                      f"EN-C {s['EN-C']:.3f} CN-I {s['CN-I']:.3f} CN-C {s['CN-C']:.3f}", flush=True)
    out["machine_end"] = machine()
    path.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(path.read_text()) if path.exists() else {}  # keep sections of earlier partial runs
    if "cnpmi" not in out and "cnpmi" in old:
        out["cnpmi"] = old["cnpmi"]
    out["classify"] = {**old.get("classify", {}), **out.get("classify", {})}
    out["figures"] = figures(out)
    path.write_text(json.dumps(out, indent=1, default=str))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
