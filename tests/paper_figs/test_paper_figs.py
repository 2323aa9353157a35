"""``python -m paper_figs``: every registered figure names a command whose options parse, the
files it promises are the ones its command writes, and the index says which is which."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import paper_figs
from paper_figs.__main__ import main


@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
@pytest.mark.parametrize("fig", paper_figs.FIGURES, ids=lambda f: f.name)
def test_every_figure_names_a_command_that_parses(fig, quick, tmp_path):
    module = importlib.import_module(fig.module)
    extra = ["--out", str(tmp_path)] + (["--cache-dir", str(tmp_path)] if fig.cached else [])
    full = module.build_parser().parse_args([*fig.argv, *extra])
    args = module.build_parser().parse_args([*fig.arguments(quick=quick), *extra])
    if quick:  # the quick options change the run, nothing else (same figure, same files)
        assert fig.quick and args != full
        changed = {k for k in vars(args) if getattr(args, k) != getattr(full, k)}
        assert changed and not changed & {"out", "stem", "model", "map", "loss"}


def test_list_names_every_figure(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for fig in paper_figs.FIGURES:
        assert fig.name in out and fig.command in out


def test_one_figure_end_to_end_with_its_index(tmp_path, capsys):
    assert main(["--only", "landscape_exact", "--out", str(tmp_path)]) == 0
    (fig,) = [f for f in paper_figs.FIGURES if f.name == "landscape_exact"]
    for name in fig.files:
        assert (tmp_path / name).stat().st_size > 0
    index = (tmp_path / "INDEX.md").read_text()
    assert fig.command in index and "| ok," in index


def test_a_missing_or_empty_file_fails_the_run_and_a_check_fails_only_a_full_one(tmp_path):
    from paper_figs.__main__ import _failed, missing_files

    (fig,) = [f for f in paper_figs.FIGURES if f.name == "late_decay"]
    assert missing_files(fig, tmp_path) == list(fig.files)
    (tmp_path / fig.files[0]).write_bytes(b"")
    (tmp_path / fig.files[1]).write_bytes(b"png")
    assert missing_files(fig, tmp_path) == [fig.files[0]]
    assert _failed(0, [fig.files[0]], quick=True)
    assert _failed(1, [], quick=False) and not _failed(1, [], quick=True)
    assert _failed(2, [], quick=True) and not _failed(0, [], quick=False)


def test_quick_mode_says_so_in_its_index(tmp_path):
    assert main(["--quick", "--only", "landscape_exact", "--out", str(tmp_path)]) == 0
    (fig,) = [f for f in paper_figs.FIGURES if f.name == "landscape_exact"]
    index = (tmp_path / "INDEX.md").read_text()
    assert index.startswith("Quick mode") and fig.command_for(quick=True) in index


def test_the_index_tells_a_missed_check_on_a_quick_grid_from_a_failed_one():
    from paper_figs.__main__ import index_markdown

    fig = paper_figs.FIGURES[0]
    quick = index_markdown([(fig, 1, 3.0, [])], quick=True)
    full = index_markdown([(fig, 1, 3.0, [])], quick=False)
    assert "missed its tolerance on the quick grid" in quick and "a check failed" not in quick
    assert "exit 1 (a check failed" in full


def test_thumbnails_are_the_figures_scaled_down(tmp_path):
    """A drawn figure's thumbnail has the asked width, the same aspect ratio, and the same
    picture: its mean colour within 2 % of the original's."""
    from PIL import Image

    from paper_figs import thumbnails

    src = tmp_path / "src"
    assert main(["--only", "landscape_exact", "--out", str(src)]) == 0
    out = thumbnails.thumbnail(src / "landscape_exact.png", tmp_path / "small.png", width=300)
    with Image.open(src / "landscape_exact.png") as big, Image.open(out) as small:
        assert small.width == 300
        assert abs(small.height / small.width - big.height / big.width) < 0.01
        a = np.asarray(big.convert("RGB"), float).mean(axis=(0, 1))
        b = np.asarray(small.convert("RGB"), float).mean(axis=(0, 1))
    assert np.allclose(a, b, rtol=0.02)
    assert out.stat().st_size < (src / "landscape_exact.png").stat().st_size


def test_thumbnails_name_what_is_not_drawn_yet(tmp_path, capsys):
    from paper_figs import thumbnails

    with pytest.raises(SystemExit) as exc:
        thumbnails.main(["--from", str(tmp_path), "--to", str(tmp_path / "img")])
    assert exc.value.code == 2
    assert "phase_diagram.png" in capsys.readouterr().err
