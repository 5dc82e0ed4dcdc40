r"""Diagnostic: the decoder's two ways of shifting scores, timed side by side in one process.

On a CPU the fused decoder shifts every score by one bound computed from the batch-norm parameters and checks the
row sums for underflow; on a GPU (`backbone._ROW_MAX_DEVICES`) it shifts each row by its own maximum, because reading
the bound and the check back to the CPU makes it wait for the GPU twice per language and step. This script alternates
the two ways every `--group` training steps on one model (the machine's drift hits both alike) and prints the median
step of each and their ratio.

    python tests/bench/diag_decoder_sync_ab.py --backbones NMTM,InfoCTM          # on a CUDA machine
    python tests/bench/diag_decoder_sync_ab.py --device cpu --dataset demo       # checks the script on a CPU
"""
import statistics, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def ab(name, corpus, device, groups, group):
    "Median step in ms with the bound (and its reads) and with row maxima, alternated on one trainer."
    import torch
    import llmxtm_nb.backbone as bb
    from gpu_check import _build
    from llmxtm_nb.trainer import Trainer
    tr = Trainer(_build(name, corpus, 0), corpus, device=device, seed=0, show_progress=False)
    batches = list(tr.batches(0))
    for b in batches[:5]: tr.train_step(b)
    sync = torch.cuda.synchronize if torch.device(device).type == 'cuda' else (lambda: None)
    times, k, saved = {'bound': [], 'row max': []}, 5, bb._ROW_MAX_DEVICES
    try:
        for _ in range(groups):
            for mode in times:
                bb._ROW_MAX_DEVICES = (torch.device(device).type,) if mode == 'row max' else ()
                sync(); t0 = time.perf_counter()
                for j in range(group): tr.train_step(batches[(k + j) % len(batches)])
                sync(); times[mode].append((time.perf_counter() - t0) / group * 1000)
            k += group
    finally:
        bb._ROW_MAX_DEVICES = saved
    return {mode: statistics.median(v) for mode, v in times.items()}


def main():
    sys.path.insert(0, str(HERE))
    from gpu_check import gpu_arguments, gpu_corpus
    ap = gpu_arguments(__doc__, '(none: prints only)', 'both ways on the CPU')
    ap.add_argument('--groups', type=int, default=12)
    ap.add_argument('--group', type=int, default=20, help='steps per timed group')
    a = ap.parse_args()
    corpus = gpu_corpus(a, 'diag_decoder_sync_ab.py')
    for name in a.backbones.split(','):
        r = ab(name, corpus, a.device, a.groups, a.group)
        print(f"{name} bound {r['bound']:.3f} ms, row max {r['row max']:.3f} ms, ratio {r['row max'] / r['bound']:.3f}",
              flush=True)


if __name__ == '__main__':
    main()
