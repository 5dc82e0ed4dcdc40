"""Refinement figures (offline, no network):

1. Offline embedding refiner (NOT an LLM) on the demo corpus: planted-theme pools (11 theme words + 4 noise words
   per language, 10 themes) -> share of injected noise dropped and theme precision of the refined sets, for
   R in {1, 3, 5, 7} and temperatures {0, 0.5, 1}, over seeds; the pools themselves are the baseline.
2. Prompt modes with the fake LLM (tests/fixtures/fake_llm.py, format drift on): requests, tokens and the share of
   topic-rounds the parser recovers, per mode (all / chunk / single), K = 10, R = 5.
3. Parser speed on a K = 50 answer.

    nice -n 10 python tests/bench/bench_refine.py [--seeds 3]

Results: tests/bench/results/refine.json (machine, load, date, versions included).
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / 'fixtures'))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seeds', type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault('LLMXTM_PROGRESS', '0')
    os.environ.setdefault('ANTHROPIC_API_KEY', 'sk-fake-bench')
    from fake_llm import FakeLLM, client
    from record_transcripts import planted_pools
    from llmxtm_nb.data import load_corpus
    from llmxtm_nb.encoders import get_encoder
    from llmxtm_nb.parse import parse_response
    from llmxtm_nb.prompt import make_requests
    from llmxtm_nb.record import TopicPool
    from llmxtm_nb.refine import refine
    from llmxtm_nb.refiners import AnthropicRefiner, OfflineEmbeddingRefiner
    import llmxtm_nb

    c = load_corpus('demo')
    vocab = {'en': list(map(str, c.l1.vocab)), 'cn': list(map(str, c.l2.vocab))}
    wt = {'en': c.ground_truth['word_theme_1'], 'cn': c.ground_truth['word_theme_2']}
    t = time.time()
    enc = get_encoder()
    emb = {l: enc.encode(vocab[l], kind='query', show_progress=False) for l in vocab}
    encode_s = time.time() - t

    def quality(pools, noise, sets):
        dropped = total = on = n = 0
        for p in pools:
            for l in ('en', 'cn'):
                nz = set(noise[f'{p.topic_id}:{l}'])
                ws = sets[p.topic_id][l]
                dropped += len(nz - set(ws)); total += len(nz)
                on += sum(wt[l].get(w, -1) == p.topic_id for w in ws); n += len(ws)
        return dropped / total, on / n

    offline = []
    for seed in range(args.seeds):
        pools, noise = planted_pools(c, seed=seed)
        base = quality(pools, noise, {p.topic_id: {l: p.word_list(l) for l in ('en', 'cn')} for p in pools})
        offline.append({'seed': seed, 'R': 0, 'temperature': None, 'noise_dropped': base[0], 'theme_precision': base[1], 'what': 'pool (no refinement)'})
        for T in (0.0, 0.5, 1.0):
            for R in (1, 3, 5, 7):
                ref = OfflineEmbeddingRefiner(embeddings=emb, temperature=T, seed=seed)
                t = time.time()
                ev = refine(pools, ref, rounds=R, keep=15, vocab=vocab, verbose=False)
                dt = time.time() - t
                q = quality(pools, noise, {tp.topic_id: tp.refined for tp in ev.topics})
                offline.append({'seed': seed, 'R': R, 'temperature': T, 'noise_dropped': q[0], 'theme_precision': q[1], 'seconds': dt})
    table = {}
    for r in offline:
        key = f"R={r['R']} T={r['temperature']}"
        table.setdefault(key, []).append((r['noise_dropped'], r['theme_precision']))
    offline_summary = {k: {'noise_dropped_mean': float(np.mean([a for a, _ in v])), 'theme_precision_mean': float(np.mean([b for _, b in v])),
                           'n': len(v)} for k, v in table.items()}

    # prompt modes with the fake LLM
    pools, noise = planted_pools(c, seed=0)
    word_theme = {'en': {str(k): int(v) for k, v in wt['en'].items()}, 'cn': {str(k): int(v) for k, v in wt['cn'].items()}}
    modes = {}
    for mode in ('all', 'chunk', 'single'):
        with tempfile.TemporaryDirectory() as d:
            fake = FakeLLM(word_theme, list(c.ground_truth['themes']), seed=7, drift=True)
            ref = AnthropicRefiner(model='claude-sonnet-4-6', prompt_mode=mode, chunk_size=4, cache=Path(d) / 't.jsonl',
                                   http_client=client(fake))
            est = ref.estimate(pools, ('en', 'cn'), 15, 5)
            ev = refine(pools, ref, rounds=5, keep=15, vocab=vocab, verbose=False)
            ok = sum(r.ok for tp in ev.topics for r in tp.rounds) / (5 * len(pools))
            q = quality(pools, noise, {tp.topic_id: tp.refined for tp in ev.topics})
            modes[mode] = {'requests': ev.stats['requests'], 'input_tokens': ev.stats['input_tokens'],
                           'output_tokens': ev.stats['output_tokens'], 'estimated_input_tokens': est['input_tokens'],
                           'estimated_output_tokens': est['output_tokens'], 'topic_rounds_parsed': ok,
                           'noise_dropped': q[0], 'theme_precision': q[1]}

    # parser speed on a K = 50 answer
    big = [TopicPool(k, pools[k % 10].words) for k in range(50)]
    fake = FakeLLM(word_theme, list(c.ground_truth['themes']), seed=3)
    req = make_requests(big, ('en', 'cn'), 15, 'all')[0]
    text = fake.answer(req.prompt)
    vs = {l: set(v) for l, v in vocab.items()}
    t = time.time(); n = 20
    for _ in range(n):
        res = parse_response(text, list(range(50)), ('en', 'cn'), vs, keep=15)
    parse_ms = (time.time() - t) / n * 1000
    parsed_ok = sum(r.ok for r in res.values())

    out = {'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
           'machine': {'platform': platform.platform(), 'cpus': os.cpu_count(), 'loadavg': os.getloadavg()},
           'versions': {'llmxtm_nb': getattr(llmxtm_nb, '__version__', '?'), 'python': platform.python_version(), 'numpy': np.__version__},
           'encoder': getattr(enc, 'name', str(enc)), 'encode_vocab_seconds': encode_s, 'vocab_sizes': {l: len(v) for l, v in vocab.items()},
           'offline_refiner': {'summary': offline_summary, 'runs': offline},
           'prompt_modes_fake_llm': modes,
           'parser': {'topics': 50, 'ms_per_answer': parse_ms, 'topics_parsed': parsed_ok, 'answer_chars': len(text)}}
    res_dir = HERE / 'results'; res_dir.mkdir(exist_ok=True)
    (res_dir / 'refine.json').write_text(json.dumps(out, indent=1, ensure_ascii=False), encoding='utf-8')
    print(json.dumps({k: out[k] for k in ('date', 'machine', 'encode_vocab_seconds')}, indent=1))
    for k, v in offline_summary.items():
        print(f"{k:14s} noise dropped {v['noise_dropped_mean']:.3f}  theme precision {v['theme_precision_mean']:.3f}")
    for m, v in modes.items():
        print(m, v)
    print('parser', out['parser'])


if __name__ == '__main__':
    main()
