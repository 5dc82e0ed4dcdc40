"""Diagnostic: do the document-alignment targets θ̂ transfer across languages, compared with the model's own θ?

Document alignment pulls each document's θ towards θ̂ = softmax(cos(document, refined topic) / τ). This script
trains a backbone briefly (or loads a saved model), runs one refinement event with the configured refiner (offline
by default) on its top words, encodes the refined topic texts as the Phase-2 code does, and then compares, on the
same subsample of documents: SVMs (the evaluation's protocol) on the model's θ (raw encoder mean, as the evaluation
uses), on θ̂, and on θ̂ built with the topic texts encoded as e5 *passages* instead of *queries* (the paper frames a
document as the question and a topic as the answer).

    python tests/bench/diag_target_transfer.py --dataset ECNews --backbone InfoCTM --epochs 10

Results go to tests/bench/results/diag_target_transfer.json (shared shape, one run per data set and backbone).
"""
import argparse, datetime, json, time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / 'results' / 'diag_target_transfer.json'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--dataset', default='ECNews')
    ap.add_argument('--backbone', default='InfoCTM')
    ap.add_argument('--epochs', type=int, default=10, help='Phase-1 epochs to train (ignored with --model)')
    ap.add_argument('--model', default=None, help='a saved model (CrossLingualTopicModel.save) instead of training')
    ap.add_argument('--train', type=int, default=600, help='training documents per language (random subsample)')
    ap.add_argument('--test', type=int, default=500, help='test documents per language (random subsample)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    from llmxtm_nb.core import load_settings, set_progress
    from llmxtm_nb.data import load_corpus
    from llmxtm_nb.encoders import get_encoder
    from llmxtm_nb.classify import classification_scores
    from llmxtm_nb.backbone import CrossLingualTopicModel
    from llmxtm_nb.trainer import Trainer, build_backbone
    from llmxtm_nb.record import pools_from_beta
    from llmxtm_nb.refine import refine
    from llmxtm_nb.phase2 import targets_from_event, topic_texts
    from llmxtm_nb.losses import doc_topic_targets
    set_progress(False)
    s = load_settings(model__seed=a.seed, model__device='cpu')
    c = load_corpus(a.dataset, settings=s)
    t0 = time.perf_counter()
    if a.model: model, epochs = CrossLingualTopicModel.load(a.model), None
    else:
        model = build_backbone(a.backbone, c, s)
        Trainer(model, c, s, epochs=a.epochs, show_progress=False).fit(); epochs = a.epochs
    model.eval()
    train_s = time.perf_counter() - t0
    l1, l2 = c.l1.lang, c.l2.lang
    b1, b2 = model.get_beta()
    ev = refine(pools_from_beta(b1, b2, c.l1.vocab, c.l2.vocab, (l1, l2), n=int(s.refine.top_n)),
                vocab={l1: c.l1.vocab, l2: c.l2.vocab}, settings=s, verbose=False)
    ts = targets_from_event(ev, {l1: c.l1.vocab, l2: c.l2.vocab}, model.num_topics)
    texts = topic_texts(ts, (l1, l2))
    enc = get_encoder(settings=s)
    T = {kind: enc.encode(texts, kind=kind, show_progress=False) for kind in ('query', 'passage')}
    tau = float(s.phase2.tau)
    rng = np.random.default_rng(a.seed)
    feats = {'theta': {}, 'theta_hat (topics as queries)': {}, 'theta_hat (topics as passages)': {}}
    lab = {}
    for i, side in enumerate((c.l1, c.l2)):
        for split, n in (('train', a.train), ('test', a.test)):
            texts_s, y = side.texts(split), side.labels(split)
            idx = np.sort(rng.choice(len(texts_s), size=min(n, len(texts_s)), replace=False))
            H = enc.encode([texts_s[j] for j in idx], kind='query', show_progress=False)
            lab[side.lang, split] = np.asarray(y)[idx]
            feats['theta'][side.lang, split] = model.get_theta(side.bow(split)[idx], i, raw=True)
            for kind, name in (('query', 'theta_hat (topics as queries)'), ('passage', 'theta_hat (topics as passages)')):
                feats[name][side.lang, split] = doc_topic_targets(H, T[kind], tau).numpy()
    row = {'dataset': a.dataset, 'backbone': type(model).__name__, 'phase1_epochs': epochs, 'model': a.model,
           'refiner': getattr(ev, 'refiner', None) or 'settings default', 'tau': tau, 'encoder': getattr(enc, 'name', str(enc)),
           'train_per_language': a.train, 'test_per_language': a.test, 'seed': a.seed, 'train_s': train_s, 'scores': {}}
    for name, F in feats.items():
        sc = classification_scores(F[l1, 'train'], lab[l1, 'train'], F[l1, 'test'], lab[l1, 'test'],
                                   F[l2, 'train'], lab[l2, 'train'], F[l2, 'test'], lab[l2, 'test'], langs=(l1, l2))
        row['scores'][name] = {k: v for k, v in sc.items() if '-' in k and not k.endswith('F1')}
        # how peaked the features are per language (θ̂ rows are distributions; θ here is the raw encoder mean)
        row['scores'][name]['max_share_' + l1] = float(np.mean(F[l1, 'test'].max(1))) if name != 'theta' else None
        row['scores'][name]['max_share_' + l2] = float(np.mean(F[l2, 'test'].max(1))) if name != 'theta' else None
    row['date'] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    from llmxtm_nb.bench import bench_result, figure, write_result
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    runs = {k: v for k, v in old.get('runs', {}).items() if (v['dataset'], v['backbone']) != (a.dataset, row['backbone'])}
    runs[f"{a.dataset}/{row['backbone']}/{epochs}ep/seed{a.seed}"] = row
    figs = [figure(f"{r['dataset']} {r['backbone']} ({r['phase1_epochs']} epochs): SVM on {name}, {k}", v, '', 'higher')
            for r in runs.values() for name, sc in r['scores'].items() for k, v in sc.items() if v is not None and 'max_share' not in k]
    write_result(bench_result('diag_target_transfer', figs, settings={'seed': a.seed}, device='cpu', runs=runs), RESULTS.parent)
    print(json.dumps(row['scores'], indent=1))


if __name__ == '__main__':
    main()
