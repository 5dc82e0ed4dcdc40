"""The package installs from a wheel with its settings and data, outside the source checkout."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def wheel(installed_wheel):
    return installed_wheel[0]


def test_wheel_contains_settings_and_assets(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "llmxtm_nb/assets/settings.ini" in names
    assert "llmxtm_nb/core.py" in names
    assert any(n.startswith("llmxtm_nb/assets/demo/") for n in names), "the demo corpus ships in the wheel"
    assert any(n.startswith("llmxtm_nb/assets/demo_embeddings-") for n in names), "so do its bundled vectors"
    settings = zipfile.ZipFile(wheel).read("llmxtm_nb/assets/settings.ini").decode()
    assert settings == (REPO / "settings.ini").read_text()


def test_settings_readable_from_installed_wheel(installed_wheel, tmp_path):
    target = installed_wheel[1]
    code = ("import llmxtm_nb, llmxtm_nb.core as c; s=c.load_settings(env={}); "
            "print(llmxtm_nb.__file__); print(c.packaged_settings_path()); print(s.model.num_topics, s.refine.rounds)")
    # Run from an empty folder with only the installed copy on the path: the checkout must not be what is found.
    r = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); " + code],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    mod, ini, values = r.stdout.strip().splitlines()
    assert mod.startswith(str(target)) and ini.startswith(str(target))
    assert values == "50 5"
