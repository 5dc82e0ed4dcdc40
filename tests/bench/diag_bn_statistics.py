"""Diagnostic: how much of a trained model's cross-lingual accuracy depends on stale batch-norm statistics?

In eval mode the encoders normalise their topic means with running statistics accumulated during training, each
from the weights of its own step. This script evaluates saved models twice with the full protocol of `evaluate`
(classification only: β, and with it every topic metric, does not depend on the encoders' batch norm): once as
saved, once after `recompute_bn_statistics` (one pass over the training batches with the final weights). It also
records how far each language's running mean of the topic-mean layer trails the mean of the current weights, in
units of the documents' own spread.

    python tests/bench/diag_bn_statistics.py --dataset ECNews MODEL.pt [MODEL.pt ...]

Results go to tests/bench/results/diag_bn_statistics.json (one entry per dataset and model file name).
"""
import argparse, datetime, fcntl, json, time
from pathlib import Path

RESULTS = Path(__file__).parent / 'results' / 'diag_bn_statistics.json'


def _lag(model, corpus):
    "Per language: |pre-BN mean − running mean| / pre-BN sd of the topic-mean layer, averaged over topics (train docs)."
    import torch, torch.nn.functional as F
    from llmxtm_nb.backbone import csr_to_torch
    out = {}
    if not hasattr(model, 'head'):
        raise SystemExit(f"{type(model).__name__} has no Gaussian encoder head: this diagnostic covers NMTM and InfoCTM")
    heads = list(model.head) if isinstance(model.head, torch.nn.ModuleList) else [model.head, model.head]
    for i, side in enumerate((corpus.l1, corpus.l2)):
        bn, seen = heads[i].mean_bn, []
        hook = bn.register_forward_hook(lambda mod, inp, o: seen.append(inp[0].detach()))
        model.eval()
        with torch.no_grad(): model.encode(csr_to_torch(side.train_bow[:4000], model.device), i)
        hook.remove()
        x = seen[0]
        out[side.lang] = float(((x.mean(0) - bn.running_mean).abs() / x.std(0).clamp_min(1e-12)).mean())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('models', nargs='+', help='saved models (CrossLingualTopicModel.save)')
    ap.add_argument('--dataset', required=True)
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    from llmxtm_nb.core import load_settings
    from llmxtm_nb.data import load_corpus
    from llmxtm_nb.backbone import CrossLingualTopicModel
    from llmxtm_nb.evaluate import evaluate
    from llmxtm_nb.trainer import recompute_bn_statistics
    from llmxtm_nb.bench import machine_info, bench_result, figure, write_result
    s = load_settings()
    c = load_corpus(a.dataset, settings=s)
    keys = ['EN-I', 'EN-C', f"{c.langs[1].upper()}-I", f"{c.langs[1].upper()}-C"]
    for path in a.models:
        m = CrossLingualTopicModel.load(path)
        row = {'model': str(path), 'backbone': type(m).__name__, 'dataset': a.dataset}
        for when in ('as_saved', 'recomputed'):
            if when == 'recomputed':
                t0 = time.perf_counter(); recompute_bn_statistics(m, c, settings=s); row['recompute_s'] = time.perf_counter() - t0
            row[f'lag_{when}'] = _lag(m, c)
            ev = evaluate(m, c, reference=False, settings=s)
            row[when] = {k: ev['metrics'][k] for k in keys + [k + ' F1' for k in keys] if k in ev['metrics']}
            print(Path(path).name, when, {k: round(row[when][k], 3) for k in keys}, 'lag', row[f'lag_{when}'], flush=True)
        row['machine'] = {**machine_info(), 'torch': torch.__version__, 'threads': torch.get_num_threads(),
                          'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}
        with open(RESULTS.with_suffix('.lock'), 'w') as lock:   # several runs may finish at once
            fcntl.flock(lock, fcntl.LOCK_EX)
            runs = json.loads(RESULTS.read_text()).get('runs', {}) if RESULTS.exists() else {}
            runs[f"{a.dataset}/{Path(path).parent.name}/{Path(path).name}"] = row
            # the shared result shape (BENCHMARKS.md lists it): one figure per run, metric and state
            figs = [figure(f"{k}: {k2} {when.replace('_', ' ')}", v, '', 'higher')
                    for k, r in runs.items() for when in ('as_saved', 'recomputed')
                    for k2, v in r[when].items() if not k2.endswith(' F1')]
            write_result(bench_result('diag_bn_statistics', figs, settings={'batch_size': s.model.batch_size, 'seed': 0},
                                      device='cpu', runs=runs), RESULTS.parent)

if __name__ == '__main__':
    main()
