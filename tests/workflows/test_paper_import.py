"""`valuescope import --paper iclr2026` and `analyze --preset iclr2026` on small synthetic tables laid out
like the authors' repository; optionally (VALUESCOPE_ICLR2026_DIR) on the real published tables."""
from __future__ import annotations

import hashlib
import os
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from paper_helpers import AGENCY, COMMUNION, MFD, PROMPTS, write_paper_repository

from engine import cli
from engine.analysis.paper_stats import stars
from engine.store.db import Cache
from engine.workflows import paper_import
from engine.workflows.paper_data import ICLR2026_MODELS, ICLR2026_SHA256
from engine.workflows.paper_import import import_paper
from engine.workflows.paper_preset import MFD_WITHOUT_SANCTITY_VICE, run_preset

@pytest.fixture(scope="module")
def paper_home(tmp_path_factory):
    """The synthetic repository imported once: (repository, data folder), shared by the preset tests."""
    root = tmp_path_factory.mktemp("paper")
    manifest = write_paper_repository(root / "repo", seed=3)
    import_paper(Cache(root / "home"), from_dir=root / "repo", home=root / "home", expected_sha256=manifest)
    return root / "repo", root / "home", manifest


def _keep_two_models(repo: Path) -> dict[str, str]:
    """Leave one Gemma and one Llama table per folder (a faster import); returns the new manifest."""
    for path in (repo / "data" / "reward_model_scores").rglob("*.csv"):
        if not path.stem.endswith(("QRM-Gemma-2-27B", "QRM-Llama3.1-8B")):
            path.unlink()
    return {str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (repo / "data").rglob("*") if p.is_file()}


def test_import_names_models_families_and_copies_lexicons(paper_home):
    repo, home, manifest = paper_home
    cache = Cache(home)
    runs = cache.list_runs(status="done")
    assert runs["model_id"].nunique() == 20 and len(runs) == 20 * len(PROMPTS)
    families = runs.drop_duplicates("model_id").set_index("model_id")["family"]
    assert families["big2/N-Gem-27B"] == "gemma" and families["mfd/F-Lla-8B-v0.1"] == "llama"
    assert (families == "gemma").sum() == 8  # 4 Gemma RMs x 2 tables
    assert "nicolinho/QRM-Gemma-2-27B" in runs.loc[runs["model_id"] == "big2/N-Gem-27B", "model_source"].iloc[0]
    assert (home / "lexicons" / "iclr2026_mfd20.dicx").is_file() and (home / "lexicons" / "iclr2026_big2_nouns.csv").is_file()
    assert (home / "paper" / "iclr2026" / "token_intersection.csv").is_file()
    again = import_paper(cache, from_dir=repo, home=home, expected_sha256=manifest)
    assert all(r.unchanged for r in again.imported) and len(cache.list_runs()) == len(runs)
    assert any("rank_results_uf_13.csv and rank_results_uf_27.csv are identical" in n for n in again.notes)


def test_changed_or_missing_files_are_refused_before_anything_is_written(tmp_path):
    manifest = write_paper_repository(tmp_path / "repo")
    home = tmp_path / "home"
    (tmp_path / "repo" / "data" / "corpora" / "token_intersection.csv").write_text('"","token_decoded"\n"1","x"\n')
    with pytest.raises(ValueError, match="differ from the published ones"):
        import_paper(Cache(home), from_dir=tmp_path / "repo", home=home, expected_sha256=manifest)
    assert Cache(home).list_runs().empty and not (home / "lexicons").exists()
    with pytest.raises(FileNotFoundError, match="lacks 1 published file"):
        import_paper(Cache(home), from_dir=tmp_path / "repo", home=home,
                     expected_sha256={**manifest, "data/corpora/gone.csv": "0" * 64})
    # The recorded hashes are the published files': the synthetic tables do not pass them.
    with pytest.raises(ValueError, match="differ from the published ones"):
        import_paper(Cache(home), from_dir=tmp_path / "repo", home=home,
                     expected_sha256={k: v for k, v in ICLR2026_SHA256.items() if k in manifest})


def test_offline_import_says_what_to_do(tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(paper_import.urllib.request, "urlopen", offline)
    assert cli.main(["--home", str(tmp_path), "import", "--paper", "iclr2026"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--from DIR" in err and "5d8d2e9" in err
    assert cli.main(["--home", str(tmp_path), "import"]) == 2
    assert "--paper iclr2026" in capsys.readouterr().err


def test_preset_reproduces_the_papers_statistics_on_the_imported_tables(paper_home, tmp_path, capsys):
    repo, home, _ = paper_home
    fig1a, fig1b = run_preset(Cache(home), "iclr2026", home=home)
    # Fig 1a by hand: rank within (model, prompt), median per category, Welch between families, x4 panels.
    rows = []
    for stem, model in ICLR2026_MODELS.items():
        table = pd.read_csv(repo / "data" / "reward_model_scores" / "dict_big2_nouns" /
                            f"big2_rewards_{stem}.csv", keep_default_na=False)
        for prompt in PROMPTS:
            ranks = table[prompt].rank(ascending=False)
            for category, words in (("Agency", AGENCY), ("Communion", COMMUNION)):
                rows.append({"family": model.family, "prompt": prompt, "category": category,
                             "framing": "positive" if prompt in PROMPTS[:2] else "negative",
                             "median": ranks[table["response"].isin(words)].median()})
    by_hand = pd.DataFrame(rows)
    for row in fig1a.panels.itertuples():
        panel = by_hand[(by_hand["framing"] == row.framing) & (by_hand["category"] == row.category)]
        a, b = (panel.loc[panel["family"] == f, "median"] for f in ("gemma", "llama"))
        assert row.gemma == pytest.approx(a.mean()) and row.diff == pytest.approx(a.mean() - b.mean())
        assert row.p_welch == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
        assert row.p_bonferroni == pytest.approx(min(1.0, 4 * row.p_welch))
    assert list(fig1a.panels["stars"]) == [stars(p) for p in fig1a.panels["p_bonferroni"]]
    communion = fig1a.panels.set_index(["framing", "category"]).loc[("positive", "Communion")]
    assert communion["diff"] < 0 and communion["stars"] in ("**", "***")  # the built-in Gemma preference
    # Fig 1b: five foundations, Sanctity_Vice words not ranked.
    assert list(fig1b.panels["category"].unique()) == ["Care", "Fairness", "Loyalty", "Authority", "Sanctity"]
    assert set(fig1b.analysis.result.medians["n_ranked"]) == {sum(len(MFD[c]) for c in MFD_WITHOUT_SANCTITY_VICE)}
    np.testing.assert_allclose(fig1b.panels["p_bonferroni"], np.minimum(fig1b.panels["p_welch"] * 10, 1))
    out = tmp_path / "out"
    assert cli.main(["--home", str(home), "analyze", "--preset", "iclr2026", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Fig 1a" in printed and "Fig 1b" in printed and "Bonferroni over the 10 tested panels" in printed
    assert "Fig 4b" in printed and (out / "fig4b" / "points.csv").is_file()
    assert (out / "fig1a" / "panels.csv").is_file() and (out / "fig1b" / "median_ranks.csv").is_file()


def test_preset_without_the_data_says_to_import(tmp_path, capsys):
    assert cli.main(["--home", str(tmp_path), "analyze", "--preset", "iclr2026"]) == 2
    assert "valuescope import --paper iclr2026" in capsys.readouterr().err


PAPER_STARS = {  # The authors' Fig 1 (their R script on these tables): (framing, category) -> stars
    "Fig 1a": {("positive", "Agency"): "**", ("positive", "Communion"): "**", ("negative", "Agency"): "***",
               ("negative", "Communion"): "***"},
    "Fig 1b": {**{(f, c): "***" for f in ("positive", "negative") for c in ("Care", "Fairness", "Loyalty", "Authority", "Sanctity")},
               ("negative", "Fairness"): "n.s.", ("negative", "Sanctity"): "**"},
}


@pytest.mark.skipif(not os.environ.get("VALUESCOPE_ICLR2026_DIR"),
                    reason="set VALUESCOPE_ICLR2026_DIR to a copy of the authors' repository at 5d8d2e9")
def test_real_published_tables_reproduce_fig1(tmp_path):
    home = tmp_path / "home"
    import_paper(Cache(home), from_dir=os.environ["VALUESCOPE_ICLR2026_DIR"], home=home)
    for result in run_preset(Cache(home), "iclr2026", home=home):
        got = {(r.framing, r.category): r.stars for r in result.panels.itertuples()}
        assert got == PAPER_STARS[result.figure.name]


def test_fig4b_takes_each_runs_final_checkpoint_and_leaves_the_duplicate_out(tmp_path):
    from engine.analysis.paper_training import fig4b_points
    from engine.workflows.paper_data import ICLR2026_DUPLICATE_RUN, ICLR2026_FIG4B_RUNS

    write_paper_repository(tmp_path / "repo")
    folder = tmp_path / "repo" / "data" / "reward_model_training"
    points = fig4b_points(folder, ICLR2026_FIG4B_RUNS, skip=(ICLR2026_DUPLICATE_RUN,))
    assert ICLR2026_DUPLICATE_RUN not in set(points["file"]) and len(points) == 1 + 2 + 2 + 2 + 2
    llama = points[points["file"] == "rank_results_uf_54.csv"].set_index("category")
    assert set(llama["checkpoint"]) == {2000} and llama.loc["Agency", "median_rank"] == 702  # first of the repeats
    assert set(llama["base_model"]) == {"Llama"} and set(llama["data_size"]) == {53}
    assert set(points.loc[points["file"] == "rank_results_uf_100.csv", "base_model"]) == {"Qwen"}
    assert set(points.loc[points["method"] == "GRM", "checkpoint"]) == {1}
    with_duplicate = fig4b_points(folder, ICLR2026_FIG4B_RUNS)
    assert len(with_duplicate) == len(points) + 1


def test_preset_puts_intervals_beside_the_difference(paper_home):
    _, home, _ = paper_home

    def welch_interval(a, b):  # any (a, b) -> (low, high) plugs in; the bootstrap one is meant for this slot
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval()
        return float(ci.low), float(ci.high)

    fig1a = run_preset(Cache(home), "iclr2026", home=home, intervals=welch_interval, intervals_doc="Welch 95% CI")[0]
    panels = fig1a.panels
    assert list(panels.columns[4:7]) == ["diff", "ci_low", "ci_high"] and panels.attrs["intervals"] == "Welch 95% CI"
    assert ((panels["ci_low"] <= panels["diff"]) & (panels["diff"] <= panels["ci_high"])).all()
    medians = fig1a.analysis.result.medians
    row = panels.iloc[0]
    panel = medians[(medians["framing"] == row["framing"]) & (medians["category"] == row["category"])]
    a, b = (panel.loc[panel["family"] == f, "median_rank"] for f in ("gemma", "llama"))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(welch_interval(a.to_numpy(), b.to_numpy()))


def test_download_path_extracts_the_archive_of_the_commit(tmp_path, monkeypatch):
    import io
    import tarfile

    write_paper_repository(tmp_path / "repo")
    manifest = _keep_two_models(tmp_path / "repo")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:  # GitHub's layout: <repo>-<commit>/...
        archive.add(tmp_path / "repo", arcname="reward_models_inherit_value_biases_from_pretraining-5d8d2e9")
    asked = []

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def fake_urlopen(url, timeout):
        asked.append(url)
        return Response(buffer.getvalue())

    monkeypatch.setattr(paper_import.urllib.request, "urlopen", fake_urlopen)
    home = tmp_path / "home"
    done = import_paper(Cache(home), home=home, expected_sha256=manifest)
    assert asked == [paper_import.ICLR2026_ARCHIVE_URL] and "5d8d2e9d879bf0060c791b11300f0efda42c9bcf" in asked[0]
    assert len(done.imported) == 4 and done.source.parent == home / "paper" / "iclr2026" / "source"
