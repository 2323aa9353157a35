"""CLI smoke tests: ``python -m sims.phase_diagram`` writes figures; bad options fail cleanly."""

import subprocess
import sys

import pytest
from subprocess_env import subprocess_env

from sims import phase_diagram


def test_phase_diagram_cli_writes_png_and_pdf(tmp_path):
    out, cache = tmp_path / "figs", tmp_path / "cache"
    cmd = [sys.executable, "-m", "sims.phase_diagram", "--n-etas", "12", "--out", str(out),
           "--cache-dir", str(cache), "--jobs", "1"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    png = out / "phase_diagram.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / "phase_diagram.pdf").exists()
    assert str(png) in proc.stdout
    assert len(list(cache.glob("*.npz"))) == 1


def test_map_mode_and_averaged(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["--map", "alpha", "--map-values", "0.01", "0.05", "--map-etas", "8", "--averaged",
            "3", "--out", str(tmp_path), "--cache-dir", str(tmp_path / "c"), "--quiet"]  # fmt: skip
    assert phase_diagram.main(argv) == 0
    assert (tmp_path / "phase_map_alpha.png").exists()
    argv = ["--n-etas", "8", "--averaged", "3", "--out", str(tmp_path), "--no-cache", "--quiet"]
    assert phase_diagram.main(argv) == 0
    assert "phase_diagram.png" in capsys.readouterr().out
    assert not (tmp_path / ".diaglin_cache").exists()


@pytest.mark.parametrize(
    "argv, needle",
    [(["--alpha", "-1"], "--alpha"), (["--eta-min", "0"], "--eta-min"),
     (["--model", "relu"], "--model"), (["--n-etas", "0"], "--n-etas"),
     (["--eta-min", "2", "--eta-max", "1"], "eta_min"), (["--map", "depth"], "--map"),
     (["--jobs", "100000"], "--jobs")],
)  # fmt: skip
def test_bad_values_are_argparse_errors(argv, needle, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        phase_diagram.main(argv + ["--cache-dir", str(tmp_path), "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert needle in capsys.readouterr().err


def test_cuda_backend_without_a_gpu_is_a_clear_error(capsys, tmp_path, monkeypatch):
    from diaglin.cuda import CudaUnavailable, runtime

    def no_gpu():
        raise CudaUnavailable("backend='cuda' needs an NVIDIA GPU with a working driver: none")

    monkeypatch.setattr(runtime, "cuda", no_gpu)
    with pytest.raises(SystemExit) as exc:
        phase_diagram.main(["--backend", "cuda", "--n-etas", "4", "--no-cache", "--quiet",
                            "--out", str(tmp_path)])  # fmt: skip
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--backend cuda: backend='cuda' needs an NVIDIA GPU" in err


@pytest.mark.parametrize("argv", [["--loss", "ce"], ["--width", "16"], ["--activation", "relu"],
                                  ["--dataset", "teacher"], ["--n-test", "5"], ["--no-bias"],
                                  ["--init-seed", "1"], ["--gf-rtol", "1e-6"],
                                  ["--param", "mup"], ["--gf-sharpness-points", "9"]])  # fmt: skip
def test_a_network_option_with_a_diagonal_model_is_an_error(argv, capsys, tmp_path):
    """Not silently ignored: a diagonal model's sweep has no loss, width, dataset, ..."""
    with pytest.raises(SystemExit) as exc:
        phase_diagram.main(["--model", "ww", *argv, "--out", str(tmp_path), "--quiet"])
    assert exc.value.code == 2
    assert f"{argv[0]}: an option of the networks" in capsys.readouterr().err


def test_depth_with_a_model_that_has_none_is_an_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        phase_diagram.main(["--model", "ww", "--depth", "3", "--out", str(tmp_path), "--quiet"])
    assert exc.value.code == 2
    assert "--depth" in capsys.readouterr().err


def test_bad_option_is_reported_before_the_numerics_load():
    # python -X importtime would be a timing; what matters is that nothing heavy is imported
    code = ("import sys; from sims import phase_diagram, compare\n"
            "heavy = [m for m in ('numba', 'scipy', 'sympy', 'matplotlib') if m in sys.modules]\n"
            "print(heavy)")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_multi_point_figures_come_with_an_index(tmp_path):
    argv = ["--alpha", "0.01", "0.05", "--eps", "1e-10", "--n-etas", "6", "--out",
            str(tmp_path), "--cache-dir", str(tmp_path / "c"), "--quiet"]  # fmt: skip
    assert phase_diagram.main(argv) == 0
    rows = (tmp_path / "phase_diagram_index.csv").read_text().splitlines()
    assert rows[0] == "file,alpha,eps,d,n,eta_c"
    assert [r.split(",")[:3] for r in rows[1:]] == [
        ["phase_diagram_000.png", "0.01", "1e-10"],
        ["phase_diagram_001.png", "0.05", "1e-10"],
    ]
    assert all((tmp_path / r.split(",")[0]).exists() for r in rows[1:])


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        phase_diagram.main(["--help"])
    text = capsys.readouterr().out
    for opt in ("--model", "--depth", "--d", "--n", "--seed", "--alpha", "--eps", "--eta-min",
                "--eta-max", "--n-etas", "--eta-grid", "--out", "--averaged", "--backend",
                "--jobs", "--no-cache", "--cache-dir", "--map"):  # fmt: skip
        assert opt in text


@pytest.mark.parametrize("text", ["0", "0.0", "0.00", "0e0", "-0", "2.5e-3"])
def test_nonnegative_options_read_any_spelling_of_a_number(text):
    """``--reference-eta`` / ``--sigma-after`` (argparse type ``nonneg_float``) take every
    spelling of a number ≥ 0, zero included (-0 read as 0, so it keys the cache as 0)."""
    from sims.core.cli import nonneg_float

    v = nonneg_float(text)
    assert v == float(text) and repr(v) == repr(abs(float(text)))


@pytest.mark.parametrize("text", ["-1e-9", "inf", "nan", "zero"])
def test_nonnegative_options_refuse_the_rest(text):
    import argparse

    from sims.core.cli import nonneg_float

    with pytest.raises(argparse.ArgumentTypeError):
        nonneg_float(text)
