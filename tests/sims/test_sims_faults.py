"""Faults a user runs into: output or cache folders that are files, read-only or cannot be
created; Ctrl-C during a sweep; a grid too large for memory; a cache that cannot be written."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from subprocess_env import subprocess_env

import sims.core.sweep
from sims import phase_diagram
from sims.core.cache import ResultCache, prepare_dir
from sims.core.sweep import CacheWarning, SweepTooLarge, run_sweep
from sims.phase_diagram.config import SweepConfig


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    """A folder nobody can create files or folders in: chmod 0555, and since root ignores
    permissions, creation there is also refused where the code creates files and folders."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    real_mkstemp, real_mkdir = tempfile.mkstemp, os.mkdir

    def refuse(path):
        if Path(path).resolve() == folder.resolve():
            raise PermissionError(13, "Permission denied", str(path))

    def mkstemp(*args, dir=None, **kw):
        refuse(dir or ".")
        return real_mkstemp(*args, dir=dir, **kw)

    def mkdir(path, *args, **kw):
        refuse(Path(path).parent)
        return real_mkdir(path, *args, **kw)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(os, "mkdir", mkdir)
    yield folder
    folder.chmod(0o755)


def _faulty_folders(tmp_path, read_only_dir):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    return {
        "a file": a_file,
        "a read-only folder": read_only_dir,
        "a missing parent that is a file": a_file / "sub" / "dir",
        "a folder that cannot be created": read_only_dir / "new",
    }


@pytest.mark.parametrize("kind", ["a file", "a read-only folder",
                                  "a missing parent that is a file",
                                  "a folder that cannot be created"])  # fmt: skip
def test_bad_out_folder_fails_before_any_computing(kind, tmp_path, read_only, capsys,
                                                   monkeypatch):  # fmt: skip
    bad = _faulty_folders(tmp_path, read_only)[kind]
    monkeypatch.setattr(sims.core.sweep, "run_sweep", lambda *a, **k: pytest.fail("computed"))
    with pytest.raises(SystemExit) as exc:
        phase_diagram.main(["--out", str(bad), "--cache-dir", str(tmp_path / "c"), "--quiet"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("python -m sims.phase_diagram: error: --out")
    assert "Traceback" not in "\n".join(err)


@pytest.mark.parametrize("kind", ["a file", "a missing parent that is a file",
                                  "a folder that cannot be created"])  # fmt: skip
def test_bad_cache_folder_fails_before_any_computing(kind, tmp_path, read_only, capsys,
                                                     monkeypatch):  # fmt: skip
    bad = _faulty_folders(tmp_path, read_only)[kind]
    monkeypatch.setattr(sims.core.sweep, "run_sweep", lambda *a, **k: pytest.fail("computed"))
    with pytest.raises(SystemExit) as exc:
        phase_diagram.main(["--cache-dir", str(bad), "--out", str(tmp_path / "o"), "--quiet"])
    assert exc.value.code == 2
    assert "error: --cache-dir" in capsys.readouterr().err


def test_missing_parents_are_created(tmp_path):
    assert prepare_dir(tmp_path / "a" / "b" / "c") and (tmp_path / "a" / "b" / "c").is_dir()


def test_read_only_cache_is_read_but_not_written(tmp_path, read_only, capsys):
    cfg = SweepConfig(n_etas=6, max_steps=2000)
    # a colleague's cache, now read-only: its entries are used, new points are not stored
    run_sweep(cfg, cache_dir=tmp_path / "theirs", progress=False)
    read_only.chmod(0o755)
    for entry in (tmp_path / "theirs").iterdir():
        shutil.copy(entry, read_only)
    read_only.chmod(0o555)
    before = sorted(p.name for p in read_only.iterdir())
    other = SweepConfig(n_etas=6, max_steps=2000, alphas=(0.01, 0.02))
    with pytest.warns(CacheWarning, match="read-only"):
        res = run_sweep(other, cache_dir=read_only, progress=False)
    assert len(res) == 2 and sorted(p.name for p in read_only.iterdir()) == before
    first = run_sweep(cfg, cache_dir=tmp_path / "theirs", progress=False).first()
    np.testing.assert_array_equal(res.first().final.theta, first.final.theta)
    argv = ["--n-etas", "6", "--max-steps", "2000", "--cache-dir", str(read_only), "--out",
            str(tmp_path / "o"), "--quiet"]  # fmt: skip
    assert phase_diagram.main(argv) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: cache folder") and "read-only" in err


def test_cache_write_failure_warns_and_the_sweep_finishes(tmp_path, monkeypatch):
    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ResultCache, "save", full)
    cfg = SweepConfig(n_etas=5, max_steps=2000, alphas=(0.01, 0.02))
    with pytest.warns(CacheWarning, match="No space left"):
        res = run_sweep(cfg, cache_dir=tmp_path, progress=False)
    assert len(res) == 2


def test_grid_too_large_for_memory_is_refused_with_the_estimate(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sims.core.sweep, "available_memory", lambda: 50 * 2**20)
    calls = []
    with pytest.raises(SweepTooLarge, match=r"needs an estimated [0-9.]+ GiB"):
        run_sweep(SweepConfig(n_etas=10**6), cache_dir=None, progress=False,
                  runner=lambda *a, **k: calls.append(1))  # fmt: skip
    assert calls == []
    with pytest.raises(SystemExit) as exc:
        phase_diagram.main(["--n-etas", "1000000", "--no-cache", "--out", str(tmp_path),
                            "--quiet"])  # fmt: skip
    assert exc.value.code == 2
    assert "GiB of memory" in capsys.readouterr().err
    # a small grid passes the same check
    assert sims.core.sweep.check_memory(SweepConfig(), SweepConfig().points()) < 50 * 2**20


def test_ctrl_c_stops_a_sweep_quickly_says_what_was_kept_and_resumes_identically(tmp_path):
    # 3 grid points of a few seconds each (tiny steps: ~10^7 steps per run)
    opts = ["--alpha", "0.01", "0.02", "0.03", "--eta-min", "2e-6", "--eta-max", "1e-5",
            "--n-etas", "64", "--max-steps", "10000000", "--reference-eta", "0",
            "--out", str(tmp_path / "o")]  # fmt: skip
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "sims.phase_diagram", *opts, "--cache-dir", str(cache)]

    # Ctrl-C acts as in a terminal even where the test runner was started in the background
    # (a shell starts background jobs with SIGINT ignored, and children inherit that).
    def as_in_a_terminal():
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(cmd, cwd=tmp_path, env=subprocess_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=as_in_a_terminal)  # fmt: skip
    deadline = time.monotonic() + 300
    while not list(cache.glob("*.npz")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.3)  # now inside the next grid point's GD
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    latency = time.monotonic() - sent
    assert proc.returncode == 130, err
    kept = len(list(cache.glob("*.npz")))
    assert 1 <= kept < 3
    assert err.strip().splitlines()[-1] == (
        f"interrupted: {kept} of 3 grid points are cached in {cache}; run the same command "
        "again to resume from there"
    )
    assert "Traceback" not in err
    assert latency < 15, latency  # chunked kernel calls: Ctrl-C acts within about a second
    # resume: only the missing points are computed, and the results equal an uninterrupted run
    done = subprocess.run(cmd + ["--quiet"], cwd=tmp_path, env=subprocess_env(),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    fresh = tmp_path / "fresh"
    subprocess.run(cmd[:-1] + [str(fresh), "--quiet"], cwd=tmp_path, env=subprocess_env(),
                   check=True, capture_output=True, timeout=600)  # fmt: skip
    names = sorted(p.name for p in cache.glob("*.npz"))
    assert names == sorted(p.name for p in fresh.glob("*.npz")) and len(names) == 3
    for name in names:
        with np.load(cache / name) as a, np.load(fresh / name) as b:
            for k in a.files:
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_no_cache_interruption_says_nothing_was_kept():
    stop = sims.core.sweep.SweepInterrupted(2, 5, 0, None)
    assert "nothing was kept" in stop.summary() and isinstance(stop, KeyboardInterrupt)


def test_no_warning_on_a_healthy_cache(tmp_path):
    cfg = SweepConfig(n_etas=5, max_steps=2000)
    run_sweep(cfg, cache_dir=tmp_path, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_sweep(cfg, cache_dir=tmp_path, progress=False)


def test_interruption_message_starts_its_own_line_after_a_progress_bar(capsys, monkeypatch):
    """A bar drawn by a runner's progress report (not by a finished point) is ended with a
    newline when the sweep is interrupted, so the summary is a line of its own."""
    clock = [1000.0]
    monkeypatch.setattr("tqdm.std.time", lambda: clock[0])

    def runner(config, point, *, progress):
        progress("early")  # before the bar's delay: nothing is drawn
        clock[0] += 5.0
        progress("GD step 7")  # after it: the bar is drawn with this postfix
        raise KeyboardInterrupt

    with pytest.raises(sims.core.sweep.SweepInterrupted):
        run_sweep(SweepConfig(n_etas=2), cache_dir=None, runner=runner, progress=True)
    err = capsys.readouterr().err
    assert "GD step 7" in err and "early" not in err
    assert err.endswith("\n")
