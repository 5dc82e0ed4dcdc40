"""Diagnostic: training-step time of this checkout's library against an earlier git revision, side by side.

Whole-epoch timings on a shared 2-core VM drift by 10-20% between runs, more than most single optimisations gain.
This script removes the drift from the comparison: it exports the package as it was at `--rev` into a temporary
folder (under another name, so both import in one process), builds the same backbone from both with the same seed,
checks that their first steps give the same losses (same random numbers drawn for both), and then times groups of
`--group` steps of each in turn, alternating which goes first. The ratio of medians and the median of the paired
ratios are the figures; each group sees the same load as its neighbour. With `--epochs N` it alternates whole
training epochs instead (N per side, `Trainer.fit`), the figure a person waits for.

    python tests/bench/diag_step_ab.py --rev HEAD~1 --label my-change --backbone NMTM --dataset ECNews --threads 2 --groups 60

Results go to tests/bench/results/diag_step_ab.json (one entry per backbone, dataset, threads and revision).
"""
import argparse, fcntl, importlib, json, re, statistics, subprocess, sys, tarfile, tempfile, time
from io import BytesIO
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RESULTS = HERE / 'results' / 'diag_step_ab.json'
OLD_NAME = 'llmxtm_nb_at_rev'


def export_revision(rev:str, dest:Path) -> str:
    "Write the package as of `rev` to dest/OLD_NAME (imports renamed); returns the revision's commit id."
    commit = subprocess.run(['git', 'rev-parse', rev], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    # settings.ini and data/ too: a checkout's package finds its defaults and bundled files next to itself
    tar = subprocess.run(['git', 'archive', commit, 'llmxtm_nb', 'settings.ini', 'data'], cwd=REPO, capture_output=True,
                         check=True).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as t: t.extractall(dest, filter='data')
    pkg = dest / OLD_NAME
    (dest / 'llmxtm_nb').rename(pkg)
    for f in pkg.rglob('*.py'):   # absolute self-imports would otherwise load this checkout's modules
        f.write_text(re.sub(r'\bllmxtm_nb\b(?=[.\s])', OLD_NAME, f.read_text()))
    return commit


def trainer_for(package:str, backbone:str, dataset:str, seed:int):
    data, trainer = (importlib.import_module(f'{package}.{m}') for m in ('data', 'trainer'))
    corpus = data.load_corpus(dataset)
    model = trainer.build_backbone(backbone, corpus, seed=seed)
    t = trainer.Trainer(model, corpus, show_progress=False, seed=seed)
    return t, list(t.batches(0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--rev', default='HEAD', help='git revision to compare against (default HEAD: the uncommitted change)')
    ap.add_argument('--backbone', default='NMTM')
    ap.add_argument('--dataset', default='ECNews')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--groups', type=int, default=60, help='timed groups per side')
    ap.add_argument('--group', type=int, default=8, help='steps per group')
    ap.add_argument('--epochs', type=int, default=0, help='alternate this many whole epochs per side instead of groups')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--results', type=Path, default=RESULTS, help='results file (default: %(default)s)')
    ap.add_argument('--label', default='work', help="short name of the working tree's change (part of the run's key)")
    ap.add_argument('--note', default='', help='what the working tree holds beyond the revision (kept with the run)')
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    tmp = tempfile.TemporaryDirectory()
    commit = export_revision(a.rev, Path(tmp.name))
    sys.path.insert(0, tmp.name)
    sides = {'rev': trainer_for(OLD_NAME, a.backbone, a.dataset, a.seed),
             'work': trainer_for('llmxtm_nb', a.backbone, a.dataset, a.seed)}
    same = []
    for i in range(3):   # the same random numbers for both: their losses must agree to float rounding
        vals = []
        for t, batches in sides.values():
            torch.manual_seed(1000 + i)
            vals.append(t.train_step(batches[i]))
        same.append(max(abs(vals[0][k] - vals[1][k]) / max(abs(vals[0][k]), 1e-6) for k in vals[0]))
    if max(same) > 1e-3:
        raise SystemExit(f"the two versions compute different losses (relative difference {max(same):.2g}): "
                         "this diagnostic compares speed of the same function only")
    times = {k: [] for k in sides}
    pos, names = 3, list(sides)
    for g in range(a.epochs or a.groups):
        order = names if g % 2 == 0 else names[::-1]
        for k in order:
            t, batches = sides[k]
            t0 = time.perf_counter()
            if a.epochs: t.fit(g + 1)
            else:
                for j in range(a.group): t.train_step(batches[(pos + j) % len(batches)])
            times[k].append((time.perf_counter() - t0) / (len(batches) if a.epochs else a.group))
        pos += a.group
    n = len(sides['work'][1])
    med = {k: statistics.median(v) for k, v in times.items()}
    paired = statistics.median(w / r for r, w in zip(times['rev'], times['work']))
    unit = 'whole epochs' if a.epochs else f'groups of {a.group} steps'
    print(f"{a.backbone} {a.dataset}, {a.threads} thread(s), {len(times['work'])} {unit} per side")
    print(f"  {a.rev} ({commit[:10]}): {med['rev'] * 1e3:.2f} ms/step   this checkout: {med['work'] * 1e3:.2f} ms/step")
    print(f"  ratio of medians {med['work'] / med['rev']:.3f}, median paired ratio {paired:.3f}; "
          f"at {n} batches per epoch: {med['rev'] * n:.2f} s vs {med['work'] * n:.2f} s" + ('' if a.epochs else ' of steps'))
    from llmxtm_nb.bench import bench_result, figure, machine_info
    from llmxtm_nb.core import atomic_write_json
    size = f"{a.epochs} epochs" if a.epochs else f"{a.groups} groups of {a.group}"
    tag = f"{a.backbone} {a.dataset} t{a.threads}, {size}: {a.label} vs {commit[:10]}"   # a rerun replaces its own key
    run = {'backbone': a.backbone, 'dataset': a.dataset, 'threads': a.threads, 'epochs': a.epochs,
           'groups': 0 if a.epochs else a.groups, 'group': 0 if a.epochs else a.group,
           'seed': a.seed, 'rev': a.rev, 'commit': commit, 'label': a.label, 'note': a.note, 'batches_per_epoch': n, 'loss_agreement': max(same),
           'median_ms': {k: v * 1e3 for k, v in med.items()},
           'median_epoch_s': {k: v * n for k, v in med.items()}, 'min_epoch_s': {k: min(v) * n for k, v in times.items()}, 'ratio_of_medians': med['work'] / med['rev'],
           'median_paired_ratio': paired, 'raw_ms': {k: [round(x * 1e3, 3) for x in v] for k, v in times.items()},
           'machine': {**machine_info(), 'torch': torch.__version__, 'threads': torch.get_num_threads(),
                       'date': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}}
    out = a.results
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix('.lock'), 'w') as lock:   # several runs may finish at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        runs = json.loads(out.read_text()).get('runs', {}) if out.exists() else {}
        runs[tag] = run
        figs = [f for k, r in runs.items() for f in (
            figure(f"{k}: step, revision", r['median_ms']['rev'], 'ms'),
            figure(f"{k}: step, this checkout", r['median_ms']['work'], 'ms'),
            figure(f"{k}: ratio of medians", r['ratio_of_medians'], ''),
            figure(f"{k}: median paired ratio", r['median_paired_ratio'], ''))]
        result = bench_result('diag_step_ab', figs, settings={'seed': a.seed}, device='cpu', runs=runs)
        atomic_write_json(out, result)
    print(f"written to {out}")


if __name__ == '__main__':
    main()
