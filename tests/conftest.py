"""Shared pytest fixtures: where the development data live, a private cache, quiet progress bars."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    "Every test writes caches to a private folder and shows no progress bars."
    monkeypatch.setenv("LLMXTM_CACHE_DIR", str(tmp_path_factory.mktemp("llmxtm-cache")))
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
