r"""Diagnostic: what bounds a training step on a GPU? Kernel launches, synchronisations and busy time per step.

`gpu_check.py` found ECNews steps of 10-16 ms on an H200 for batches of 128 documents: far more than the arithmetic
needs. This script trains each backbone for a few steps under `torch.profiler` and counts, per step:

  launches     CUDA kernel launches issued by the CPU (cudaLaunchKernel and friends)
  syncs        calls that make the CPU wait for the GPU (stream, device or event synchronisation; a read of a GPU
               value such as `.item()` makes one): each one stops the CPU from running ahead
  copies       cudaMemcpy(Async) calls, either direction (batches in, values out)
  reads        operators that read a GPU value on the CPU (`.item()`, `float()`, `bool()`, `.tolist()`: they show
               as aten::_local_scalar_dense or aten::tolist) or need a data-dependent size (nonzero, unique): the
               usual causes of `syncs`
  gpu_busy_ms  the summed duration of the GPU's kernels and copies
  wall_ms      the step as the CPU sees it (profiler overhead included, so read it next to gpu_busy_ms only)

A step whose gpu_busy_ms is a small part of wall_ms is bound by launches and synchronisations, not arithmetic.

    python tests/bench/diag_gpu_step.py --dataset ECNews --steps 20

Results go to tests/bench/results/diag_gpu_step.json (or --results DIR).
"""
import json, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYNC_CALLS = ('cudaStreamSynchronize', 'cudaDeviceSynchronize', 'cudaEventSynchronize')
LAUNCH_CALLS = ('cudaLaunchKernel', 'cuLaunchKernel', 'cudaLaunchKernelExC', 'cuLaunchKernelEx')
COPY_CALLS = ('cudaMemcpy',)
READ_OPS = ('aten::_local_scalar_dense', 'aten::tolist', 'aten::nonzero', 'aten::unique_consecutive', 'aten::unique')


def profile_steps(name, corpus, steps, seed=0, device='cuda'):
    import torch
    from torch.profiler import profile, ProfilerActivity
    from gpu_check import _build
    from llmxtm_nb.trainer import Trainer
    model = _build(name, corpus, seed)
    tr = Trainer(model, corpus, device=device, seed=seed, show_progress=False)
    model.train()
    batches = list(tr.batches(0))[:steps + 5]
    for b in batches[:5]: tr.train_step(b)
    cuda = torch.device(device).type == 'cuda'
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    if cuda: torch.cuda.synchronize()
    with profile(activities=acts) as prof:
        t0 = time.perf_counter()
        for b in batches[5:]: tr.train_step(b)
        if cuda: torch.cuda.synchronize()
        wall = time.perf_counter() - t0
    events = prof.events()
    count = lambda names: sum(1 for e in events if e.name.startswith(names))
    # the GPU's own time: the self device time of every operator, which is the time of the kernels and copies it ran
    gpu_us = sum(getattr(k, 'self_device_time_total', None) or getattr(k, 'self_cuda_time_total', 0) or 0
                 for k in prof.key_averages()) if cuda else 0.0
    n = len(batches) - 5
    return {'steps': n, 'wall_ms': wall / n * 1000, 'launches': count(LAUNCH_CALLS) / n,
            'syncs': count(SYNC_CALLS) / n, 'copies': count(COPY_CALLS) / n, 'gpu_busy_ms': gpu_us / 1000 / n,
            'reads': {op: count((op,)) / n for op in READ_OPS if count((op,))}}


def main():
    import sys
    sys.path.insert(0, str(HERE))
    from gpu_check import gpu_arguments, gpu_corpus
    ap = gpu_arguments(__doc__, 'diag_gpu_step.json', 'no CUDA events')
    ap.add_argument('--steps', type=int, default=20)
    a = ap.parse_args()
    import torch
    from llmxtm_nb.bench import bench_result, figure, write_result
    corpus = gpu_corpus(a, 'diag_gpu_step.py')
    runs, figs = {}, []
    for name in a.backbones.split(','):
        r = runs[name] = profile_steps(name, corpus, a.steps, device=a.device)
        print(name, json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}), flush=True)
        figs += [figure(f"{a.dataset} {name}: kernel launches per step", r['launches'], ''),
                 figure(f"{a.dataset} {name}: synchronisations per step", r['syncs'], ''),
                 figure(f"{a.dataset} {name}: memory copies per step", r['copies'], ''),
                 figure(f"{a.dataset} {name}: GPU busy per step", r['gpu_busy_ms'], 'ms'),
                 figure(f"{a.dataset} {name}: step under the profiler", r['wall_ms'], 'ms')]
    if a.device == 'cpu': return
    res = bench_result('diag_gpu_step', figs, settings={'dataset': a.dataset, 'K': 50, 'batch_size': 128,
                                                        'steps': a.steps}, device='cuda', runs=runs,
                       gpu=torch.cuda.get_device_name())
    print('written', write_result(res, a.results))


if __name__ == '__main__':
    main()
