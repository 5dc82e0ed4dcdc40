"""Diagnostic: does the document encoder itself carry cross-lingual signal on a benchmark?

Document alignment pulls θ towards softmax(cos(document, topic)/τ) computed with the multilingual encoder. If that
encoder places the two languages' documents in separate regions, the targets of an English and a Chinese document
about the same subject differ, and the alignment can only hurt cross-lingual transfer. This script measures the
encoder on its own: SVMs (scikit-learn defaults, as the evaluation) trained on one language's document embeddings and
tested on both languages (the same EN-I/EN-C/L2-I/L2-C protocol as for θ), plus the mean cosine of random document
pairs within and across languages.

    python tests/bench/diag_embedding_transfer.py --dataset ECNews --train 800 --test 600

Results go to tests/bench/results/diag_embedding_transfer.json (one entry per dataset, encoder and sizes).
"""
import argparse, datetime, json, time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / 'results' / 'diag_embedding_transfer.json'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--dataset', default='ECNews')
    ap.add_argument('--train', type=int, default=800, help='training documents per language (random subsample)')
    ap.add_argument('--test', type=int, default=600, help='test documents per language (random subsample)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    from llmxtm_nb.core import load_settings
    from llmxtm_nb.data import load_corpus
    from llmxtm_nb.encoders import get_encoder
    from llmxtm_nb.classify import classification_scores
    s = load_settings()
    c = load_corpus(a.dataset, settings=s)
    enc = get_encoder(settings=s)
    rng = np.random.default_rng(a.seed)
    emb, lab = {}, {}
    t0 = time.perf_counter()
    for side in (c.l1, c.l2):
        for split, n in (('train', a.train), ('test', a.test)):
            texts, y = side.texts(split), side.labels(split)
            if texts is None or y is None: raise SystemExit(f"{a.dataset} {side.lang} {split}: texts or labels missing")
            idx = np.sort(rng.choice(len(texts), size=min(n, len(texts)), replace=False))
            emb[side.lang, split] = enc.encode([texts[i] for i in idx], kind='query', show_progress=False)
            lab[side.lang, split] = np.asarray(y)[idx]
    encode_s = time.perf_counter() - t0
    l1, l2 = c.l1.lang, c.l2.lang
    scores = classification_scores(emb[l1, 'train'], lab[l1, 'train'], emb[l1, 'test'], lab[l1, 'test'],
                                   emb[l2, 'train'], lab[l2, 'train'], emb[l2, 'test'], lab[l2, 'test'], langs=(l1, l2))
    def mean_cos(A, B, n=4000):
        i, j = rng.integers(0, len(A), n), rng.integers(0, len(B), n)
        An, Bn = A / np.linalg.norm(A, axis=1, keepdims=True).clip(1e-12), B / np.linalg.norm(B, axis=1, keepdims=True).clip(1e-12)
        return float((An[i] * Bn[j]).sum(1).mean())
    A, B = emb[l1, 'test'], emb[l2, 'test']
    cos = {f'{l1}-{l1}': mean_cos(A, A), f'{l2}-{l2}': mean_cos(B, B), f'{l1}-{l2}': mean_cos(A, B)}
    # the same subject in both languages: cosine of the class centroids across languages (labels shared by both)
    shared = sorted(set(lab[l1, 'test']) & set(lab[l2, 'test']))
    cent = lambda E, y, k: E[y == k].mean(0) / np.linalg.norm(E[y == k].mean(0))
    cc = np.array([[float(cent(A, lab[l1, 'test'], p) @ cent(B, lab[l2, 'test'], q)) for q in shared] for p in shared])
    row = {'dataset': a.dataset, 'encoder': getattr(enc, 'name', str(enc)), 'train_per_language': a.train,
           'test_per_language': a.test, 'seed': a.seed, 'encode_s': encode_s,
           'classification_on_embeddings': {k: v for k, v in scores.items() if not k.endswith('F1') and '-' in k},
           'mean_cosine_random_pairs': cos, 'shared_labels': [int(x) for x in shared],
           'class_centroid_cosine_across_languages': cc.round(4).tolist(),
           'same_class_centroid_is_nearest': float(np.mean(cc.argmax(1) == np.arange(len(shared)))),
           'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}
    # the shared result shape (BENCHMARKS.md lists it); one run per data set is kept, the figures name the data set
    from llmxtm_nb.bench import bench_result, figure, write_result
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    runs = {k: v for k, v in old.get('runs', {}).items() if v.get('dataset') != a.dataset}
    runs[f"{a.dataset}/{row['encoder']}/{a.train}-{a.test}/seed{a.seed}"] = row
    figs = []
    for r in runs.values():
        tag = f"{r['dataset']} ({r['encoder']}, {r['train_per_language']}+{r['test_per_language']} docs/language)"
        figs += [figure(f"{tag}: SVM on document embeddings, {k}", v, '', 'higher')
                 for k, v in r['classification_on_embeddings'].items()]
        figs.append(figure(f"{tag}: same-class centroid nearest across languages", r['same_class_centroid_is_nearest'], '', 'higher'))
    write_result(bench_result('diag_embedding_transfer', figs, settings={'seed': a.seed}, device='cpu', runs=runs),
                 RESULTS.parent)
    print(json.dumps({k: row[k] for k in ('dataset', 'encoder', 'classification_on_embeddings', 'mean_cosine_random_pairs',
                                          'same_class_centroid_is_nearest')}, indent=1))


if __name__ == '__main__':
    main()
