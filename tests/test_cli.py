"""The console script: --help, --version, and settings errors reported without a traceback."""
import subprocess
import sys
from pathlib import Path

import llmxtm_nb


def run(*args, env=None):
    import os
    e = dict(os.environ, **(env or {}))
    exe = Path(sys.executable).parent / "llmxtm"  # the console script installed with the package
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=e)


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0 and "settings" in r.stdout and "usage: llmxtm" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and llmxtm_nb.__version__ in r.stdout


def test_settings_command_reports_origin_and_errors(tmp_path):
    r = run("settings", "--origin", env={"LLMXTM_REFINE_ROUNDS": "7"})
    assert r.returncode == 0
    assert "rounds = 7    # environment variable LLMXTM_REFINE_ROUNDS" in r.stdout
    r = run("settings", env={"LLMXTM_REFINE_ROUNDS": "seven"})
    assert r.returncode == 2 and "LLMXTM_REFINE_ROUNDS" in r.stderr and "Traceback" not in r.stderr


def test_run_refuses_malformed_overrides_and_unknown_data(tmp_path):
    r = run("run", "--set", "num_topics=5", "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "--set 'num_topics=5': expected SECTION.KEY=VALUE" in r.stderr
    r = run("run", "--set", "model.num_topics=many", "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "num_topics = 'many'" in r.stderr
    r = run("run", "--dataset", str(tmp_path / "no-such-corpus"), "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "no-such-corpus" in r.stderr and "Traceback" not in r.stderr


def test_demo_and_run_are_listed():
    out = run("--help").stdout
    assert "demo" in out and "run" in out and "bench" in out and "embed" in out
