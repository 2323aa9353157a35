"""``python -m paper_figs``: every registered figure names a command whose options parse, the
files it promises are the ones its command writes, and the index says which is which."""

from __future__ import annotations

import importlib

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
