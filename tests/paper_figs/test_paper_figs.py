"""``python -m paper_figs``: every registered figure names a command whose options parse, the
files it promises are the ones its command writes, and the index says which is which."""

from __future__ import annotations

import importlib

import pytest

import paper_figs
from paper_figs.__main__ import main


@pytest.mark.parametrize("fig", paper_figs.FIGURES, ids=lambda f: f.name)
def test_every_figure_names_a_command_that_parses(fig, tmp_path):
    module = importlib.import_module(fig.module)
    extra = ["--out", str(tmp_path)] + (["--cache-dir", str(tmp_path)] if fig.cached else [])
    module.build_parser().parse_args([*fig.argv, *extra])


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
