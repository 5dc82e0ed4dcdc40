"""Reliability figures: what injected faults cost a refinement event, how fast the parser reads hostile answers, and
what a checkpoint costs.

Run: python tests/bench/bench_reliability.py [--quick|--full]  -> tests/bench/results/reliability.json
quick: 6 demo topics x 3 rounds, 300 parser inputs; full: 10 topics x 5 rounds (the paper's R), 3000 parser inputs.
"""
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LLMXTM_PROGRESS", "0")

import numpy as np  # noqa: E402

from reliability_utils import FAKE_KEY, demo_topics, tiny_demo  # noqa: E402
from llmxtm_nb.bench import bench_result, bench_size, figure, write_result  # noqa: E402
from llmxtm_nb.faults import FAULT_KINDS, RETRYABLE_KINDS, FakeLLM, fake_refiner  # noqa: E402
from llmxtm_nb.parse import parse_response  # noqa: E402
from llmxtm_nb.refine import refine  # noqa: E402


def fault_run(pools, vocab, themes, rounds, rate, kinds, seed, d):
    Path(d).mkdir(parents=True, exist_ok=True)
    r = fake_refiner("anthropic", fake=FakeLLM(themes), rate=rate, kinds=kinds, seed=seed, cache=Path(d) / f"{rate}-{seed}.jsonl",
                     backoff_base=0.0, prompt_mode="single", max_retries=5, max_faults_per_request=4 if kinds == RETRYABLE_KINDS else None)
    t0 = time.perf_counter()
    ev = refine(pools, r, rounds=rounds, keep=8, vocab=vocab, verbose=False)
    return time.perf_counter() - t0, ev, r


def main():
    size = bench_size()
    os.environ["ANTHROPIC_API_KEY"] = FAKE_KEY
    k, rounds, n_parse = (6, 3, 300) if size == "quick" else (10, 5, 3000)
    pools, vocab, themes = demo_topics(k=k, n=10)
    figs = []
    with tempfile.TemporaryDirectory() as d:
        fault_run(pools, vocab, themes, 1, 0.0, RETRYABLE_KINDS, 99, d)  # warm-up: SDK import and client set-up
        # sub-second timings on a shared machine are noisy: median of `repeats` fresh runs, and a wide tolerance
        repeats = 5 if size == "quick" else 11
        runs = [fault_run(pools, vocab, themes, rounds, 0.0, RETRYABLE_KINDS, 0, d + f"/c{i}") for i in range(repeats)]
        t_clean, clean = float(np.median([x[0] for x in runs])), runs[0][1]
        runs = [fault_run(pools, vocab, themes, rounds, 0.3, RETRYABLE_KINDS, 1, d + f"/f{i}") for i in range(repeats)]
        t_retry, ev, r = float(np.median([x[0] for x in runs])), runs[0][1], runs[0][2]
        same = all(x[1].final_sets() == clean.final_sets() for x in runs)
        figs += [figure("refine event, no faults (median)", t_clean, "s", tolerance=1.0, repeats=repeats,
                        note=f"{k} topics x {rounds} rounds, single mode, fake LLM"),
                 figure("refine event, 30% retryable faults (median)", t_retry, "s", tolerance=1.0, repeats=repeats,
                        note=f"{r.stats.retries} retries, no back-off sleep"),
                 figure("slowdown from 30% retryable faults (same run)", t_retry / t_clean, "x", tolerance=0.5),
                 figure("30% retryable faults: targets equal the clean run", float(same), "", better="higher", tolerance=0.0)]
        t_all, ev, r = fault_run(pools, vocab, themes, rounds, 0.3, FAULT_KINDS, 2, d)
        s = ev.summary()
        figs += [figure("30% faults of every kind: topic-rounds recorded as failed", s["rounds_failed"] / (k * rounds), "share",
                        note="truncated/malformed bodies are recorded, not retried"),
                 figure("30% faults of every kind: topics left without any answer", s["topics_all_failed"], "topics",
                        tolerance=0.0)]
    # parser throughput on hostile answers built (seeded) from the adversarial test's ingredients
    import random
    import test_parser_adversarial as adv
    rng = random.Random(0)
    pieces = adv.V["en"] + adv.V["cn"] + adv.V["ja"] + adv.WRONG_SCRIPT + adv.PROMPTY + adv.CONF
    def hostile():
        lines = []
        for _ in range(rng.randint(1, 12)):
            c = rng.random()
            if c < 0.25: lines.append(f"Topic {rng.randint(-2, 40)}: {rng.choice(adv.PROMPTY)}")
            elif c < 0.9:
                n = rng.choice((3, 10, 30, 1000))
                lines.append(f"{rng.choice(['EN', 'CN', 'JA', 'ZH', '中文', 'XX'])}: " + rng.choice([' | ', ', ', '、', ' ']).join(rng.choice(pieces) for _ in range(n)))
            else: lines.append(rng.choice(adv.PROMPTY))
        return "\n".join(lines)
    texts = [hostile() for _ in range(n_parse)]
    t0 = time.perf_counter()
    for t in texts: parse_response(t, [0, 1, 2], ("en", "cn"), adv.V, keep=10)
    t_parse = time.perf_counter() - t0
    figs.append(figure("parser: hostile answers per second", n_parse / t_parse, "answers/s", better="higher"))
    # checkpoint cost
    from llmxtm_nb.core import load_settings
    from llmxtm_nb.trainer import Trainer, build_backbone
    c = tiny_demo(); st_ = load_settings()
    with tempfile.TemporaryDirectory() as d:
        tr = Trainer(build_backbone("InfoCTM", c, st_, num_topics=50), c, st_, epochs=1, batch_size=40, show_progress=False,
                     checkpoint_dir=d)
        t0 = time.perf_counter(); p = tr.save_checkpoint(); t_ck = time.perf_counter() - t0
        figs += [figure("checkpoint save (InfoCTM, K=50, demo vocab)", t_ck, "s"),
                 figure("checkpoint size (InfoCTM, K=50, demo vocab)", p.stat().st_size / 2**20, "MiB")]
    res = bench_result("reliability", figs, {"size": size, "seed": 0, "parser_seed": 0, "fault_seeds": [0, 1, 2], "topics": k, "rounds": rounds,
                                             "parser_inputs": n_parse})
    path = write_result(res, Path(__file__).parent / "results")
    print("| figure | value | unit |\n|---|---|---|")
    for f in figs: print(f"| {f['name']} | {f['value']:.4g} | {f['unit']} |")
    print(f"load average {res['machine']['loadavg']}; written to {path}")


if __name__ == "__main__":
    main()
