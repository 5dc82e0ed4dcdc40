"""Shared pytest fixtures: where the development data live, a private cache, quiet progress bars."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# Content-keyed caches (embeddings keyed by encoder and text, the CNPMI index keyed by file, XTRA's k-means keyed by
# its inputs) are shared by all tests of a session, so the demo corpus is encoded once rather than once per test.
# Everything else (LLM transcripts, checkpoints, run folders) is private to each test.
SHARED_CACHES = ("embeddings", "cnpmi", "xtra")


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("llmxtm-shared-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, _session_cache, monkeypatch):
    "Every test writes caches to a private folder (sharing the content-keyed ones) and shows no progress bars."
    private = tmp_path_factory.mktemp("llmxtm-cache")
    for name in SHARED_CACHES:
        (_session_cache / name).mkdir(exist_ok=True)
        (private / name).symlink_to(_session_cache / name, target_is_directory=True)
    monkeypatch.setenv("LLMXTM_CACHE_DIR", str(private))
    monkeypatch.setenv("LLMXTM_PROGRESS", "0")
    # A developer's own settings must not change what the tests see.
    monkeypatch.delenv("LLMXTM_SETTINGS", raising=False)
    for var in list(__import__("os").environ):
        if var.startswith("LLMXTM_") and var not in {"LLMXTM_CACHE_DIR", "LLMXTM_PROGRESS", "LLMXTM_SHARED_DATA", "LLMXTM_DATA"}:
            monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    "The development copy of the benchmarks (../shared/data); tests that need it skip when it is absent."
    from llmxtm_nb.core import shared_data_dir

    d = shared_data_dir()
    if d is None:
        pytest.skip("benchmark data folder ../shared/data (or $LLMXTM_SHARED_DATA) is absent on this machine")
    return d


@pytest.fixture(scope="module")
def one_torch_thread():
    "Tiny tensors: one thread avoids OpenMP overhead on a shared machine (restored afterwards)."
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory):
    "The package built as a wheel and installed into an empty folder: (wheel path, install folder). Built once per session."
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (whl,) = out.glob("llmxtm_nb-*.whl")
    target = out / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(whl)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return whl, target
