"""Memory of the data layer: load ECNews (BoW, texts, labels, word vectors, dictionary) and make one pass over all
paired mini-batches; report the peak resident memory (RSS) of the process. Requirement: < 1.5 GB.

Run:  python tests/bench/bench_data_memory.py [--quick|--full]
      -> prints the figures, writes tests/bench/results/data_memory.json (shared benchmark shape)
quick and full do the same work (it takes seconds); the peak includes Python, NumPy, SciPy and PyTorch themselves,
so the baseline after importing them is reported too. Needs the shared data folder (../shared/data or
$LLMXTM_SHARED_DATA); exits with a message when it is absent.
"""
import resource
import sys
import time

import psutil


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: KiB


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


def main():
    import torch  # noqa: F401  (counted in the baseline: training imports it anyway)
    from llmxtm_nb.core import set_progress, shared_data_dir
    from llmxtm_nb.data import load_benchmark

    set_progress(False)
    data = shared_data_dir()
    if data is None or not (data / 'ECNews').is_dir():
        print('ECNews not found (../shared/data or $LLMXTM_SHARED_DATA): nothing measured')
        return 1
    base = peak_mib()
    t0 = time.perf_counter()
    c = load_benchmark('ECNews', data)
    t_load = time.perf_counter() - t0
    after_load, rss_load = peak_mib(), rss_mib()
    t0 = time.perf_counter()
    n = docs = 0
    bs = c.batches(128, seed=0)
    for b in bs:
        n += 1; docs += b.x1.shape[0]
    t_pass = time.perf_counter() - t0
    peak = peak_mib()
    assert n == len(bs) == 313 and docs == 40000
    print(f"baseline (python + torch + numpy/scipy): peak {base:.0f} MiB")
    print(f"after loading ECNews: peak {after_load:.0f} MiB (rss {rss_load:.0f} MiB) in {t_load:.1f} s")
    print(f"after one pass over {n} batches of 128: peak {peak:.0f} MiB in {t_pass:.1f} s")
    print(f"requirement < 1.5 GB (1536 MiB): {'OK' if peak < 1536 else 'FAILED'}")
    try:
        from llmxtm_nb.bench import bench_result, figure, write_result
    except ImportError:
        return 0 if peak < 1536 else 1
    res = bench_result('data_memory', [
        figure('peak RSS: ECNews load + one pass of mini-batches', peak, 'MiB', 'lower'),
        figure('peak RSS after loading ECNews', after_load, 'MiB', 'lower'),
        figure('baseline peak RSS (imports)', base, 'MiB', 'lower'),
        figure('ECNews load time', t_load, 's', 'lower'),
        figure('one pass over 313 mini-batches', t_pass, 's', 'lower'),
    ], settings={'dataset': 'ECNews', 'batch_size': 128, 'seed': 0, 'batches': n})
    print('written', write_result(res))
    return 0 if peak < 1536 else 1


if __name__ == '__main__':
    sys.exit(main())
