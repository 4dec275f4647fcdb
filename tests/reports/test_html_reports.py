"""HTML reports and the static site without a browser: what the files hold, their size, the numbers they
carry, and the command line's errors (tests/reports/test_report_browser.py renders them in Chromium)."""
from __future__ import annotations

import base64
import gzip
import io
import json
import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from engine import __version__
from engine.cli import main
from engine.reports.export import read_table
from engine.store.db import Cache
from helpers import seed_demo_cache, single_error_line

FIVE_MB = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """Fig 1-style score tables (three reward models, two families, six battery prompts) imported into a
    cache, then `valuescope analyze` on them."""
    root = tmp_path_factory.mktemp("reports")
    home = root / "home"
    seed_demo_cache(root / "imports", home=home)
    assert main(["--home", str(home), "analyze", "--families", "llama", "gemma", "--resamples", "999",
                 "--out", str(root / "analysis")]) == 0
    return root, home


def _external_references(page: str) -> list[str]:
    """src/href attributes that would make the browser fetch something (data: URLs and anchors do not)."""
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.S)  # the inlined libraries' own code aside
    return [u for u in re.findall(r'(?:src|href)="([^"]*)"', markup) if not u.startswith(("data:", "#"))
            and not u.endswith((".html", ".js"))]


def _embedded_csv(page: str, file_name: str) -> pd.DataFrame:
    match = re.search(rf'download="{re.escape(file_name)}" href="data:[^;]+;base64,([^"]+)"', page)
    assert match, f"{file_name} is not offered in the page"
    data = base64.b64decode(match.group(1))
    if file_name.endswith(".gz"):
        data = gzip.decompress(data)
    return pd.read_csv(io.BytesIO(data), keep_default_na=False)


def test_values_report_carries_the_analysis_numbers_and_its_provenance(analysed, tmp_path, capsys):
    root, home = analysed
    out = tmp_path / "values.html"
    assert main(["--home", str(home), "report", str(root / "analysis"), "--out", str(out)]) == 0
    page = out.read_text()
    assert "window.vegaEmbed" in page and not _external_references(page)
    assert page.count('class="chart"') == 3  # Fig 1 box plots, words by category, Kendall's tau
    expected = read_table(root / "analysis" / "family_summary.csv")
    embedded = _embedded_csv(page, "family-summary.csv")
    assert list(embedded.columns) == list(expected.columns)
    np.testing.assert_allclose(embedded["diff"], expected["diff"])
    np.testing.assert_allclose(embedded["p_perm"], expected["p_perm"])
    provenance = json.loads(re.search(r'<pre id="vs-provenance">(.*?)</pre>', page, re.S).group(1)
                            .replace("&quot;", '"').replace("&#x27;", "'").replace("&amp;", "&"))
    runs = Cache(home).list_runs(status="done")["run_id"]
    assert set(provenance["runs"]) == set(runs) and provenance["valuescope_version"] == __version__
    assert provenance["report"] == "family comparison"


def test_a_262k_token_search_report_stays_under_5_mb(tmp_path, capsys):
    """A synthetic 262,144-token vocabulary run: the page holds summaries and says the full ranking is left out."""
    home = tmp_path / "home"
    rng = np.random.default_rng(0)
    n = 262_144
    texts = np.array([f"tok{i}" for i in range(n)], dtype=object)
    texts[:3] = [" love", "money", " Love"]
    scores = pd.DataFrame({"token_id": np.arange(n), "text": texts, "score": rng.normal(0, 1, n),
                           "first_token_score": np.nan, "n_tokens": 1})
    run_id = Cache(home).save_run({"request_key": "synthetic", "model_id": "synthetic-262k", "score_kind": "logprob",
                                   "candidates": "vocab", "vocab_filter": "all", "prompt_text": "What is best?",
                                   "source": "computed"}, scores)
    out = tmp_path / "search.html"
    assert main(["--home", str(home), "report", run_id[:10], "--out", str(out), "--words", "love,money,absent"]) == 0
    size = out.stat().st_size
    assert size < FIVE_MB, size
    page = out.read_text()
    assert "full ranking: not in this page (262,144 rows: too large to embed" in page
    assert f"valuescope export {run_id} --out ranking.parquet" in page
    assert not _external_references(page)
    best = scores.sort_values("score", ascending=False)
    top = _embedded_csv(page, f"top-synthetic-262k-{run_id[:8]}.csv")
    assert list(top["rank"]) == list(range(1, 11))
    np.testing.assert_allclose(top["score"], best["score"].head(10))
    positions = _embedded_csv(page, "word-positions-table.csv")
    ranked = Cache(home).scores(run_id)
    love = positions[positions["word"] == "love"].iloc[0]
    assert float(love["rank"]) == ranked.loc[ranked["text"].isin([" love", " Love"]), "rank"].min()
    assert positions.loc[positions["word"] == "absent", "rank"].iloc[0] == ""  # not a token: no rank
    print(f"262,144-token report: {size / 1e6:.2f} MB")


def test_site_shows_the_numbers_of_analyze_on_the_same_tables(analysed, tmp_path, capsys):
    root, home = analysed
    site = tmp_path / "site"
    figures = tmp_path / "figures"
    assert main(["--home", str(home), "site", "--out", str(site), "--families", "llama", "gemma", "--resamples", "999",
                 "--figures", str(figures)]) == 0
    front_matter = (site / "README.md").read_text().split("---")[1]
    assert "sdk: static" in front_matter and "app_file: index.html" in front_matter
    index = (site / "index.html").read_text()
    pages = re.findall(r'class="page" href="([^"]+)"', index)
    assert len(pages) == 6 and all((site / p).is_file() for p in pages)  # the last: "More tables"
    for name in pages:
        assert not _external_references((site / name).read_text())
    summary = pd.read_parquet(site / "data" / "family-comparison" / "family-summary.parquet")
    expected = read_table(root / "analysis" / "family_summary.csv")
    pd.testing.assert_frame_equal(summary.drop(columns="note"), expected.drop(columns="note"), check_dtype=False)
    medians = pd.read_parquet(site / "data" / "median-rank-by-category" / "median-ranks.parquet")
    analysed_medians = read_table(root / "analysis" / "median_ranks.csv")
    key = ["model_id", "prompt_key", "category"]
    merged = medians.merge(analysed_medians, on=key, suffixes=("_site", "_analyze"))
    assert len(merged) == len(analysed_medians) == len(medians)
    np.testing.assert_allclose(merged["median_rank_site"], merged["median_rank_analyze"])
    provenance = json.loads(pq.read_schema(site / "data" / "family-comparison" / "family-summary.parquet")
                            .metadata[b"valuescope"])
    assert provenance["valuescope_version"] == __version__ and len(provenance["runs"]) == 18
    svgs, pngs = sorted(figures.glob("*.svg")), sorted(figures.glob("*.png"))
    assert [p.stem for p in svgs] == [p.stem for p in pngs] == ["kendall-tau", "median-ranks", "words-by-category"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
    assert all("<svg" in p.read_text()[:200] for p in svgs)


def test_report_errors_are_one_line(analysed, tmp_path, capsys):
    root, home = analysed
    cases = [(["report", "nosuchrun", "--out", str(tmp_path / "r.html")], "nosuchrun"),
             (["report", str(root / "analysis"), "--out", str(tmp_path / "r.csv")], ".html"),
             (["report", str(tmp_path), "--out", str(tmp_path / "r.html")], "holds no valuescope tables")]
    for argv, expected in cases:
        assert main(["--home", str(home), *argv]) == 2
        assert expected in single_error_line(capsys.readouterr().err)
    existing = tmp_path / "exists.html"
    existing.write_text("keep me")
    assert main(["--home", str(home), "report", str(root / "analysis"), "--out", str(existing)]) == 2
    assert "--force" in single_error_line(capsys.readouterr().err) and existing.read_text() == "keep me"


def test_search_report_of_several_imported_runs(analysed, tmp_path, capsys):
    """Two runs of imported words side by side: a histogram and top/bottom tables each, one word-position table."""
    root, home = analysed
    runs = Cache(home).list_runs(status="done", model_id="demo-llama-rm").head(2)
    out = tmp_path / "two.html"
    assert main(["--home", str(home), "report", *runs["run_id"], "--out", str(out), "--words", "pizza,nosuchword"]) == 0
    page = out.read_text()
    assert page.count('data-name="histogram-demo-llama-rm-') == 4  # section and chart of each run
    positions = _embedded_csv(page, "word-positions-table.csv")
    assert len(positions) == 4 and (positions["word"] == "pizza").sum() == 2
    for run_id in runs["run_id"]:
        ranked = Cache(home).scores(run_id)
        full = _embedded_csv(page, f"ranking-demo-llama-rm-{run_id[:8]}.csv")  # small: the whole ranking is in the page
        assert list(full["word"]) == list(ranked["text"]) and list(full["rank"]) == list(ranked["rank"])
