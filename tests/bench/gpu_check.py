r"""GPU check of the Phase-1 backbones: the same function on CUDA as on the CPU, and an epoch's time there.

For each backbone on one benchmark (ECNews by default):

* **same function**: the model is built once on the CPU and copied to the GPU; one batch goes through both copies in
  eval mode (θ = the encoder mean, no dropout, so nothing random is left) and the loss terms and the gradients of
  their sum are compared. A GPU kernel that computed something else (a sparse path written with the CPU in mind,
  a buffer on the wrong device) shows up here as a relative difference far above float32 rounding.
* **speed**: a `Trainer` on the GPU times one whole training epoch (after a few warm-up steps; the clock is read
  after `torch.cuda.synchronize()`), with the peak GPU memory torch allocated.

XTRA gets random unit document embeddings (as in `bench_backbones.py` without `--full`): its step costs the same.
This needs a CUDA device; it is not a `bench_*.py` area because `llmxtm bench` runs on the CPU.

    python tests/bench/gpu_check.py --dataset ECNews
"""
import argparse, copy, json, time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _build(name, corpus, seed, K=50):
    "The speed benchmark's model: the fast path, XTRA with random unit document embeddings."
    import sys
    sys.path.insert(0, str(HERE))
    from bench_backbones import _build as build
    return build(name, corpus, 'fast', 'random', seed, K)


def _losses_and_grads(model, batch):
    "Eval-mode loss terms and the gradient of their sum, as CPU float64 tensors."
    import torch
    model.eval()
    model.zero_grad(set_to_none=True)
    losses = model(batch)['losses']
    sum(losses.values()).backward()
    vals = {k: v.detach().double().cpu() for k, v in losses.items()}
    grads = {n: p.grad.detach().to_dense().double().cpu() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return vals, grads


def same_function(name, corpus, seed=0, device='cuda'):
    "Largest relative differences CPU vs `device`: over the loss terms, and over the parameters' gradients."
    import torch
    cpu_model = _build(name, corpus, seed)
    gpu_model = copy.deepcopy(cpu_model).to(device)
    batch = next(iter(corpus.batches(128, seed=seed, epoch=0, sparse=True)))
    lc, gc = _losses_and_grads(cpu_model, batch)
    lg, gg = _losses_and_grads(gpu_model, batch.to(device))
    if set(lc) != set(lg) or set(gc) != set(gg): raise SystemExit(f"{name}: CPU and GPU give different terms")
    loss_rel = max(float(abs(lc[k] - lg[k]) / max(abs(lc[k]), 1e-12)) for k in lc)
    grad_rel = max(float((gc[n] - gg[n]).norm() / max(gc[n].norm(), 1e-12)) for n in gc)
    worst = max(gc, key=lambda n: float((gc[n] - gg[n]).norm() / max(gc[n].norm(), 1e-12)))
    return {'loss_rel_max': loss_rel, 'grad_rel_max': grad_rel, 'grad_worst_param': worst,
            'losses_cpu': {k: float(v) for k, v in lc.items()}}


def epoch_time(name, corpus, seed=0, warmup=5, device='cuda'):
    "Seconds for one whole training epoch on the GPU, and the peak memory torch allocated there."
    import torch
    from llmxtm_nb.trainer import Trainer
    model = _build(name, corpus, seed)
    tr = Trainer(model, corpus, device=device, seed=seed, show_progress=False)
    cuda = torch.device(device).type == 'cuda'
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    model.train()
    warm = iter(tr.batches(1))
    for _ in range(warmup): tr.train_step(next(warm))
    batches = list(tr.batches(0))
    sync()
    if cuda: torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for b in batches: tr.train_step(b)
    sync()
    wall = time.perf_counter() - t0
    return {'s_per_epoch': wall, 'ms_per_step': wall / len(batches) * 1000, 'steps': len(batches),
            'peak_gpu_mb': torch.cuda.max_memory_allocated() / 2**20 if cuda else None}


def gpu_arguments(doc:str, results_file:str, cpu_help:str) -> argparse.ArgumentParser:
    "The options the GPU scripts share: data set, backbones, device (cpu: a check of the script), results folder."
    ap = argparse.ArgumentParser(description=doc.split('\n\n')[0])
    ap.add_argument('--dataset', default='ECNews')
    ap.add_argument('--backbones', default='NMTM,InfoCTM,XTRA')
    ap.add_argument('--device', default='cuda', help=f"'cpu' checks the script itself ({cpu_help}, nothing written)")
    ap.add_argument('--results', type=Path, default=HERE / 'results', help=f'folder of the results file {results_file}')
    return ap


def gpu_corpus(a, script:str):
    "Refuse to run without CUDA unless --device cpu; the corpus, with progress bars off."
    import torch
    if a.device != 'cpu' and not torch.cuda.is_available(): raise SystemExit(f"{script} needs a CUDA device")
    from llmxtm_nb.core import set_progress
    from llmxtm_nb.data import load_corpus
    set_progress(False)
    return load_corpus(a.dataset)


def main():
    ap = gpu_arguments(__doc__, 'gpu.json', 'CPU against CPU')
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    import torch
    from llmxtm_nb.bench import bench_result, figure, write_result
    corpus = gpu_corpus(a, 'gpu_check.py')
    figs, runs = [], {}
    for name in a.backbones.split(','):
        r = {**same_function(name, corpus, a.seed, a.device), **epoch_time(name, corpus, a.seed, device=a.device)}
        runs[name] = r
        print(name, json.dumps({k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()
                                if k != 'losses_cpu'}), flush=True)
        figs += [figure(f"{a.dataset} {name}: GPU epoch", r['s_per_epoch'], 's', better='lower'),
                 figure(f"{a.dataset} {name}: GPU step", r['ms_per_step'], 'ms', better='lower'),
                 *([figure(f"{a.dataset} {name}: peak GPU memory", r['peak_gpu_mb'], 'MB', better='lower')]
                   if r['peak_gpu_mb'] is not None else []),
                 figure(f"{a.dataset} {name}: CPU vs GPU loss, max relative difference", r['loss_rel_max'], '',
                        better='lower'),
                 figure(f"{a.dataset} {name}: CPU vs GPU gradient, max relative difference", r['grad_rel_max'], '',
                        better='lower')]
    if a.device == 'cpu': return
    res = bench_result('gpu', figs, settings={'dataset': a.dataset, 'K': 50, 'batch_size': 128, 'seed': a.seed},
                       device='cuda', runs=runs, gpu=torch.cuda.get_device_name())
    print('written', write_result(res, a.results))


if __name__ == '__main__':
    main()
