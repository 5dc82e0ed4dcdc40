"""Diagnostic: how close to NMTM's step can an exact XTRA step get? A floor measured side by side.

The backbone issue asks for an XTRA epoch within 2x of our NMTM's. XTRA does everything NMTM does except NMTM's
translation maps, and adds work that no exact implementation of the published model can skip: its two β
projections (a V x 384 linear layer applied to the K x V topic-word weights, and the two gradient products of it)
and Adam over its 13 M extra parameters (two V x 1000 input layers, the projections), whose moments change at
every step even where the gradient is zero. This script times, alternating groups in one process so that the
machine's drift hits all of them alike:

  nmtm_step, xtra_step   whole training steps (`Trainer.train_step`)
  nmtm_maps              NMTM's translation maps, forward and backward (the work XTRA does not do)
  xtra_beta_proj         XTRA's β projections, forward and backward, as in its step
  adam_nmtm, adam_xtra   one fused Adam step over each model's parameters

and reports floor = nmtm_step - nmtm_maps + xtra_beta_proj + (adam_xtra - adam_nmtm): what an XTRA step would cost
if everything else it does were free. floor / nmtm_step above 2 means the target cannot be met without changing
the model or its optimiser.

With --relaxations it also times whole steps of XTRA changed in the ways that could bring it closer (none is the
published model). Since 2026-11-30 the first two are XTRA's own opt-in options, together XTRA-lite
(`llmxtm_nb.xtra.XTRA_LITE`); before, this script patched them in, with the β term's weight left unchanged (the same
work per step):

  xtra_beta_every4   the β alignment (projections and contrast) computed on one step in four (on the other three
                     the projections get no gradient, so Adam leaves them alone too)
  xtra_share300      input layers of 300 units instead of 1,000
  xtra_input_frozen  no gradient and no Adam step for the two input layers (weights and biases): a bound that any
                     lazy (row-sparse) Adam for them stays above, since that would still compute and apply the rows
                     of the batch
  xtra_relaxed_all   the three together

With --epochs N it then trains N whole epochs of NMTM, XTRA and each timed relaxation in turn (the order reversed
every round, Python's cycle collector kept away as in `Trainer.fit`) and reports their epoch ratios: steps timed in
alternation with other models run with colder caches than the steps of one model's epoch, so the step ratios alone
do not settle the epoch target.

    python tests/bench/diag_xtra_floor.py --dataset ECNews --threads 2 --groups 40 [--relaxations] [--epochs 2]

Results go to tests/bench/results/diag_xtra_floor.json (one entry per key: --key, else '<dataset> t<threads>').
"""
import argparse, fcntl, json, statistics, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / 'results' / 'diag_xtra_floor.json'


def _adam_timer(model):
    "A fused Adam over copies of `model`'s parameters with fixed random gradients: times `step()` alone."
    import torch
    params = [torch.nn.Parameter(p.detach().clone()) for p in model.parameters() if p.requires_grad]
    for p in params: p.grad = torch.randn_like(p) * 1e-3
    opt = torch.optim.Adam(params, lr=1e-3, fused=True)   # the trainer's optimiser
    opt.step()   # allocates the moments outside the timed calls
    return opt.step


def _maps_timer(nmtm):
    "NMTM's decoder weights (both translation maps), forward and backward with a fixed upstream gradient."
    import torch
    w1, w2 = nmtm.decoder_weights()
    g1, g2 = torch.randn_like(w1), torch.randn_like(w2)
    def run():
        a, b = nmtm.decoder_weights()
        torch.autograd.backward((a, b), (g1, g2))
    return run


def _beta_proj_timer(xtra):
    "XTRA's two β projections (dropout included, as in its forward), forward and backward."
    import torch
    xtra.train()
    g = [torch.randn(xtra.w1.shape[0], layer.out_features) for layer in xtra.prj_beta]
    def run():
        p1, p2 = xtra.drop(xtra.prj_beta[0](xtra.w1)), xtra.drop(xtra.prj_beta[1](xtra.w2))
        torch.autograd.backward((p1, p2), tuple(g))
    return run


# XTRA's own options (llmxtm_nb.xtra: beta_align_every, share_dim; both together are XTRA-lite, XTRA_LITE), and
# 'freeze_input', which this script applies itself: a bound for timing only (untrained input layers cost XTRA-lite
# 13-20 points of accuracy on Rakuten_Amazon, see the trainer page)
RELAXATIONS = {'xtra_beta_every4': dict(beta_align_every=4), 'xtra_share300': dict(share_dim=300),
               'xtra_input_frozen': dict(freeze_input=True),
               'xtra_relaxed_all': dict(beta_align_every=4, share_dim=300, freeze_input=True)}


def changed_xtra(corpus, seed:int=0, freeze_input:bool=False, **options):
    "XTRA with `options` of its own, and with `freeze_input` its input layers (weights and biases) kept out of training."
    from llmxtm_nb.trainer import build_backbone
    model = build_backbone('XTRA', corpus, seed=seed, **options)
    if freeze_input: model.inp.requires_grad_(False)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--dataset', default='ECNews')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--groups', type=int, default=40, help='timed groups per part')
    ap.add_argument('--group', type=int, default=8, help='calls per group')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--results', type=Path, default=RESULTS, help='results file (default: %(default)s)')
    ap.add_argument('--relaxations', action='store_true', help='also time the changed XTRAs of RELAXATIONS')
    ap.add_argument('--epochs', type=int, default=0, help='rounds of whole epochs of each model (0: none)')
    ap.add_argument('--key', default='', help="the run's key in the results file (default: '<dataset> t<threads>')")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    from llmxtm_nb.data import load_corpus
    from llmxtm_nb.trainer import Trainer, build_backbone, _frozen_gc
    corpus = load_corpus(a.dataset)
    trainers = {name: Trainer(build_backbone(name, corpus, seed=a.seed), corpus, show_progress=False, seed=a.seed)
                for name in ('NMTM', 'XTRA')}
    batches = list(trainers['NMTM'].batches(0))
    step = lambda t: (lambda i: t.train_step(batches[i % len(batches)]))   # call i trains on batch i
    call = lambda f: (lambda i: f())                                        # the other parts take no batch
    nmtm, xtra = trainers['NMTM'].model, trainers['XTRA'].model
    parts = {'nmtm_step': step(trainers['NMTM']), 'xtra_step': step(trainers['XTRA']),
             'nmtm_maps': call(_maps_timer(nmtm)), 'xtra_beta_proj': call(_beta_proj_timer(xtra)),
             'adam_nmtm': call(_adam_timer(nmtm)), 'adam_xtra': call(_adam_timer(xtra))}
    if a.relaxations:
        for name, change in RELAXATIONS.items():
            trainers[name] = Trainer(changed_xtra(corpus, a.seed, **change), corpus, show_progress=False, seed=a.seed)
            parts[name] = step(trainers[name])
    for f in parts.values():   # warm-up: first calls allocate
        for i in range(3): f(i)
    times = {k: [] for k in parts}
    names = list(parts)
    for g in range(a.groups):
        for k in (names if g % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            for j in range(a.group): parts[k](g * a.group + j)
            times[k].append((time.perf_counter() - t0) / a.group * 1e3)
    med = {k: statistics.median(v) for k, v in times.items()}
    floor = med['nmtm_step'] - med['nmtm_maps'] + med['xtra_beta_proj'] + med['adam_xtra'] - med['adam_nmtm']
    print(f"{a.dataset}, {a.threads} thread(s), {a.groups} groups of {a.group} per part (median ms per call)")
    for k in names: print(f"  {k:15s} {med[k]:8.2f}")
    print(f"  floor of an exact XTRA step {floor:.2f} ms = {floor / med['nmtm_step']:.2f}x NMTM's step "
          f"(XTRA's actual step {med['xtra_step'] / med['nmtm_step']:.2f}x)")
    relaxed = {k: med[k] / med['nmtm_step'] for k in RELAXATIONS if k in med}
    for k, v in relaxed.items(): print(f"  {k} step = {v:.2f}x NMTM's step")
    epoch_s = {k: [] for k in trainers} if a.epochs else {}
    with _frozen_gc():
        for r in range(a.epochs):
            for k in (list(epoch_s) if r % 2 == 0 else list(epoch_s)[::-1]):
                t0 = time.perf_counter()
                for b in trainers[k].batches(r + 1): trainers[k].train_step(b)
                epoch_s[k].append(time.perf_counter() - t0)
    epoch_med = {k: statistics.median(v) for k, v in epoch_s.items()}
    epoch_ratio = {k: v / epoch_med['NMTM'] for k, v in epoch_med.items() if k != 'NMTM'}
    for k, v in epoch_ratio.items():
        print(f"  {k} epoch {epoch_med[k]:.2f} s = {v:.2f}x NMTM's {epoch_med['NMTM']:.2f} s (median of {a.epochs})")
    from llmxtm_nb.bench import bench_result, figure, machine_info
    from llmxtm_nb.core import atomic_write_json
    n_params = {k: sum(p.numel() for p in t.model.parameters()) for k, t in trainers.items()}
    key = a.key or f"{a.dataset} t{a.threads}"
    run = {'dataset': a.dataset, 'threads': a.threads, 'groups': a.groups, 'group': a.group, 'seed': a.seed,
           'median_ms': med, 'floor_ms': floor, 'floor_over_nmtm_step': floor / med['nmtm_step'],
           'xtra_over_nmtm_step': med['xtra_step'] / med['nmtm_step'], 'relaxed_over_nmtm_step': relaxed,
           'epoch_s': epoch_med, 'epoch_over_nmtm_epoch': epoch_ratio,
           'raw_epoch_s': {k: [round(x, 3) for x in v] for k, v in epoch_s.items()}, 'parameters': n_params,
           'raw_ms': {k: [round(x, 3) for x in v] for k, v in times.items()},
           'machine': {**machine_info(), 'torch': torch.__version__, 'threads': torch.get_num_threads(),
                       'date': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}}
    out = a.results
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix('.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        runs = json.loads(out.read_text()).get('runs', {}) if out.exists() else {}
        runs[key] = run
        figs = [f for k, r in runs.items() for f in (
            *(figure(f"{k}: {part}", v, 'ms') for part, v in r['median_ms'].items()),
            figure(f"{k}: floor of an exact XTRA step", r['floor_ms'], 'ms'),
            figure(f"{k}: floor / NMTM step", r['floor_over_nmtm_step'], ''),
            figure(f"{k}: XTRA step / NMTM step", r['xtra_over_nmtm_step'], ''),
            *(figure(f"{k}: {part} step / NMTM step", v, '') for part, v in r.get('relaxed_over_nmtm_step', {}).items()),
            *(figure(f"{k}: {part} epoch / NMTM epoch", v, '') for part, v in r.get('epoch_over_nmtm_epoch', {}).items()))]
        atomic_write_json(out, bench_result('diag_xtra_floor', figs, settings={'seed': a.seed}, device='cpu', runs=runs))
    print(f"written to {out}")


if __name__ == '__main__':
    main()
