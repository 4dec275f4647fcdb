"""The Values page's paper preset: the same figures as `valuescope analyze --preset iclr2026`."""
from __future__ import annotations

from helpers import app, texts
from paper_helpers import write_paper_repository

from engine.store.db import Cache
from engine.workflows.paper_import import import_paper


def test_values_page_shows_the_iclr2026_preset(tmp_path, valuescope_home):
    manifest = write_paper_repository(tmp_path / "repo")
    import_paper(Cache(valuescope_home), from_dir=tmp_path / "repo", home=valuescope_home, expected_sha256=manifest)
    at = app("values", preset="iclr2026")
    assert not at.error, texts(at.error)
    assert [h.value.split(":")[0] for h in at.subheader] == ["Fig 1a", "Fig 1b", "Fig 4b"]
    fig1a, fig1b = (df.value for df in at.dataframe[:2])
    assert {"p_welch", "p_bonferroni", "stars"} <= set(fig1a.columns) and len(fig1a) == 4 and len(fig1b) == 10
    plain = app("values", basis="words")  # without the preset the page's own analysis runs (imported words)
    assert not plain.error and any("p_perm" in df.value.columns for df in plain.dataframe)
