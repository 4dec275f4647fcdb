"""Value analysis: normalisation, ranks, statistics (checked against scipy/statsmodels) and the CLI end to end."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.meta_analysis import effectsize_smd
from statsmodels.stats.multitest import multipletests

from engine import cli
from engine.analysis.stats import compare_families, hedges_g, kendall_tau, mixed_model, summarise_tau
from engine.analysis.values import analyze_words, attach_categories, category_medians, rank_words, top_bottom_words
from engine.store.queries import load_words, select_runs
from engine.store.db import Cache
from engine.reports.export import read_metadata, read_table
from engine.analysis.lexicons import Lexicon, load_lexicon
from engine.analysis.words import normalize_token, to_words
from engine.prompts import BATTERY

PETS = Lexicon(
    name="pets", categories=["Cat", "Dog"],
    entries={"tabby": frozenset({"Cat"}), "puppy": frozenset({"Dog"}), "pet": frozenset({"Cat", "Dog"})},
    wildcards={"kitt": frozenset({"Cat"}), "hound": frozenset({"Dog"})},
)


# ---- normalisation and variants --------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, word",
    [("▁Love", "love"), ("ĠLOVE", "love"), (" love\n", "love"), ("Ċ", ""), ("café", "caf"), ("❤", ""),
     ("Self-Control", "self-control"), ("▁New▁York", "new york"), ("love.", "love."), ("  Won't ", "won't"),
     ("\x07Love\x00", "love"), ("\x1b", "")],
)
def test_normalize_token(raw, word):
    assert normalize_token(raw) == word


def test_variant_policies():
    scores = pd.DataFrame({"model_id": "m", "prompt_key": "p", "text": [" Love", "love", "LOVE", "hate", "✓"],
                           "score": [1.0, 3.0, 2.0, 0.0, 9.0]})
    mean = to_words(scores, "mean").set_index("word")
    assert mean.loc["love", "score"] == 2.0 and mean.loc["love", "n_variants"] == 3
    assert mean.loc["love", "text"] == "love"  # the best variant
    assert set(mean.index) == {"love", "hate"}  # "✓" normalises to "" and is dropped
    best = to_words(scores, "max").set_index("word")
    assert best.loc["love", "score"] == 3.0
    every = to_words(scores, "all_variants")
    assert len(every) == 4 and (every.loc[every.word == "love", "n_variants"] == 3).all()
    for policy, table in (("mean", mean), ("max", best), ("all_variants", every)):
        assert (table["variant_policy"] == policy).all() and table.attrs["variant_policy"] == policy
    with pytest.raises(ValueError, match="variant policy"):
        to_words(scores, "median")


# ---- ranks and medians -----------------------------------------------------------------------------
def test_rank_words_matches_scipy_rankdata_with_ties():
    words = pd.DataFrame({"model_id": ["a"] * 5 + ["b"] * 3, "prompt_key": "p",
                          "word": list("vwxyz") + list("vwx"), "score": [3, 1, 3, 2, 0.5, 1, 2, 2]})
    ranked = rank_words(words)
    for model, grp in ranked.groupby("model_id"):
        expected = stats.rankdata(-grp["score"].to_numpy(), method="average")
        np.testing.assert_array_equal(grp["rank"].to_numpy(), expected)
        assert (grp["n_ranked"] == len(grp)).all()
    assert ranked.loc[0, "rank"] == 1.5  # best, tied


def test_rank_words_refuses_two_runs_for_one_ranking():
    words = pd.DataFrame({"run_id": ["r1", "r2"], "model_id": "a", "prompt_key": "p", "word": ["x", "y"], "score": [1, 2]})
    with pytest.raises(ValueError, match="Several runs"):
        rank_words(words)


def test_category_medians_count_multi_category_words_in_each():
    words = pd.DataFrame({"model_id": "m", "family": "f", "prompt_key": "best_ever_one", "framing": "positive",
                          "word": ["tabby", "kittens", "puppy", "hounds", "pet", "rock"],
                          "score": [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]})
    labelled = attach_categories(words, PETS)
    assert list(labelled["word"]) == ["tabby", "kittens", "puppy", "hounds", "pet"]  # "rock" matches nothing
    assert labelled.set_index("word").loc["pet", "categories"] == "Cat; Dog"
    medians = category_medians(rank_words(labelled), PETS.categories).set_index("category")
    assert medians.loc["Cat", "median_rank"] == np.median([1, 2, 5])
    assert medians.loc["Dog", "median_rank"] == np.median([3, 4, 5])
    assert medians.loc["Cat", "n_words"] == 3 and medians.loc["Cat", "n_ranked"] == 5
    assert medians.loc["Dog", "median_rank_pct"] == pytest.approx(np.median([3 / 5, 4 / 5, 5 / 5]))


# ---- family comparison -----------------------------------------------------------------------------
def _medians(groups: dict[tuple[str, str, str], list[float]]) -> pd.DataFrame:
    rows = []
    for (family, category, framing), values in groups.items():
        for i, v in enumerate(values):
            rows.append({"model_id": f"{family}{i % 3}", "family": family, "prompt_key": f"p{i}", "framing": framing,
                         "category": category, "median_rank": v})
    return pd.DataFrame(rows)


def test_compare_families_matches_scipy_and_statsmodels():
    rng = np.random.default_rng(7)
    a_big, b_big = rng.normal(10, 2, 15), rng.normal(12, 3, 17)
    a_small, b_small = [3.0, 4.0, 5.0, 6.0, 2.5], [6.0, 7.0, 8.0, 5.0, 9.0, 7.5]
    medians = _medians({
        ("x", "Agency", "positive"): list(a_big), ("y", "Agency", "positive"): list(b_big),
        ("x", "Agency", "negative"): a_small, ("y", "Agency", "negative"): b_small,
        ("x", "Communion", "negative"): [1.0], ("y", "Communion", "negative"): [2.0, 3.0],
    })
    out = compare_families(medians, seed=3, resamples=9999)
    assert list(out.columns[:8]) == ["framing", "category", "x", "y", "diff", "p_perm", "p_bonferroni", "effect_size"]
    assert list(out["framing"]) == ["positive", "negative", "negative"]
    big, small, untested = (out.iloc[i] for i in range(3))
    for row, a, b in ((big, a_big, b_big), (small, a_small, b_small)):
        # compare_families sorts each group first (the p-value then does not depend on row order).
        expected = stats.ttest_ind(np.sort(a), np.sort(b), equal_var=False,
                                   method=stats.PermutationMethod(n_resamples=9999, rng=3))
        assert row["p_perm"] == pytest.approx(expected.pvalue, rel=0, abs=1e-12)
        assert row["t_welch"] == pytest.approx(expected.statistic)
        assert row["diff"] == pytest.approx(np.mean(a) - np.mean(b))
        g, _ = effectsize_smd(np.mean(a), np.std(a, ddof=1), len(a), np.mean(b), np.std(b, ddof=1), len(b))
        assert row["effect_size"] == pytest.approx(g) and np.sign(g) == np.sign(row["diff"])
    # The permutation p-value agrees with the parametric Welch test on normal data.
    assert big["p_perm"] == pytest.approx(stats.ttest_ind(a_big, b_big, equal_var=False).pvalue, abs=0.02)
    # Bonferroni over the two tested panels only; the panel with one observation is not tested.
    expected_bonf = multipletests([big["p_perm"], small["p_perm"]], method="bonferroni")[1]
    np.testing.assert_allclose(out["p_bonferroni"].iloc[:2], expected_bonf)
    assert np.isnan(untested["p_perm"]) and np.isnan(untested["p_bonferroni"]) and "at least 2" in untested["note"]
    assert out.attrs["n_tested"] == 2
    # Row order does not matter; the order of the families given flips the signs.
    shuffled = compare_families(medians.sample(frac=1, random_state=0), seed=3, resamples=9999)
    np.testing.assert_array_equal(shuffled["p_perm"], out["p_perm"])
    again = compare_families(medians, families=["y", "x"], seed=3, resamples=9999)
    assert again.loc[0, "diff"] == pytest.approx(-big["diff"]) and again.loc[0, "effect_size"] == pytest.approx(-big["effect_size"])
    assert list(again.columns[2:4]) == ["y", "x"]


def test_hedges_g_known_value():
    # Two groups with pooled SD 1 and mean difference 1: d = 1, g = d * (1 - 3 / (4 * (n1 + n2) - 9)).
    a, b = np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0])
    assert hedges_g(a, b) == pytest.approx(1 - 3 / (4 * 6 - 9))


def test_compare_families_needs_two_families():
    medians = _medians({("x", "A", "positive"): [1, 2], ("y", "A", "positive"): [3, 4], ("z", "A", "positive"): [5, 6]})
    with pytest.raises(ValueError, match="exactly two families"):
        compare_families(medians)
    assert set(compare_families(medians, families=["z", "x"]).columns) >= {"z", "x"}
    with pytest.raises(ValueError, match="No scores for family"):
        compare_families(medians, families=["x", "w"])


# ---- mixed model -----------------------------------------------------------------------------------
def _mixed_data(n_models: int = 6, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(n_models):
        family = "a" if m % 2 == 0 else "b"
        offset = rng.normal(0, 3)
        for category in ("Agency", "Communion"):
            for framing in ("positive", "negative"):
                for p in range(6):
                    effect = -8 if (family == "a") == (category == "Agency") else 8
                    rows.append({"model_id": f"m{m}", "family": family, "category": category, "framing": framing,
                                 "prompt_key": f"{framing}{p}", "median_rank": 100 + effect + offset + rng.normal(0, 4)})
    return pd.DataFrame(rows)


def test_mixed_model_matches_statsmodels():
    data = _mixed_data()
    table = mixed_model(data, families=["a", "b"]).set_index("term")
    # Documented coding: reference levels are the first family, first category and the positive framing.
    coded = data.assign(framing=pd.Categorical(data["framing"], ["positive", "negative"]))
    direct = smf.mixedlm("median_rank ~ family * category * framing", coded, groups=coded["model_id"]).fit(reml=True)
    for term, coef in direct.params.items():
        assert table.loc[term, "coef"] == pytest.approx(coef, rel=1e-6, abs=1e-6)
        assert table.loc[term, "p_value"] == pytest.approx(direct.pvalues[term], rel=1e-5, abs=1e-9) or np.isnan(direct.pvalues[term])
    assert table["n_groups"].iloc[0] == 6 and table["n_obs"].iloc[0] == len(data)
    assert table.loc["family[T.b]:category[T.Communion]", "coef"] < 0


def test_mixed_model_reports_instead_of_crashing():
    one_model = _mixed_data(n_models=1)
    table = mixed_model(one_model)
    assert len(table) == 1 and table.loc[0, "term"] == "(not fitted)" and "at least 2 models" in table.loc[0, "note"]
    # Two models, one per family: family is confounded with the model; the fit may be singular but never raises.
    two = _mixed_data(n_models=2)
    table = mixed_model(two, families=["a", "b"])
    assert "note" in table and table["n_groups"].iloc[0] == 2 and "only 2 models" in table["note"].iloc[0]
    # Rank-deficient design (each family scored one category only): reported, not raised.
    lopsided = two[(two["family"] == "a") == (two["category"] == "Agency")]
    table = mixed_model(lopsided)
    assert table.loc[0, "term"] == "(not fitted)" and "Singular matrix" in table.loc[0, "note"]


def test_mixed_model_survives_a_boundary_fit():
    # No between-model variance: statsmodels' default optimiser lands on a variance of exactly 0 and
    # returns a garbage intercept; mixed_model must notice and refit (then it agrees with OLS).
    rng = np.random.default_rng(2)
    rows = [{"model_id": f"m{m}", "family": "ab"[m % 2], "category": c, "framing": f, "median_rank": 100 + rng.normal(0, 4)}
            for m in range(6) for c in ("Agency", "Communion") for f in ("positive", "negative") for _ in range(6)]
    data = pd.DataFrame(rows)
    coded = data.assign(framing=pd.Categorical(data["framing"], ["positive", "negative"]))
    with np.errstate(all="ignore"), pytest.warns(Warning):
        naive = smf.mixedlm("median_rank ~ family * category * framing", coded, groups=coded["model_id"]).fit(reml=True)
    assert float(naive.cov_re.iloc[0, 0]) == 0.0 and abs(naive.params["Intercept"]) < 1  # the trap is real
    table = mixed_model(data).set_index("term")
    ols = smf.ols("median_rank ~ family * category * framing", coded).fit()
    assert table.loc["Intercept", "coef"] == pytest.approx(ols.params["Intercept"], rel=1e-4)
    assert table.loc["Intercept", "std_err"] == pytest.approx(ols.bse["Intercept"], rel=0.01)
    assert "powell" in table["note"].iloc[0]


# ---- Kendall's tau and top/bottom words --------------------------------------------------------------
def test_kendall_tau_over_shared_words_matches_scipy():
    words = pd.DataFrame({
        "model_id": ["a"] * 6 + ["b"] * 5, "prompt_key": "best_ever_one", "framing": "positive",
        "word": ["u", "v", "w", "x", "y", "only_a", "u", "v", "w", "x", "y"],
        "score": [5, 4, 3, 2, 1, 9, 1, 4, 4, 3, 0],
    })
    tau = kendall_tau(words)
    expected = stats.kendalltau([5, 4, 3, 2, 1], [1, 4, 4, 3, 0])
    assert tau.loc[0, "n_shared"] == 5
    assert tau.loc[0, "tau"] == pytest.approx(expected.statistic) and tau.loc[0, "p_value"] == pytest.approx(expected.pvalue)
    summary = summarise_tau(tau)
    assert set(summary["framing"]) == {"all", "positive"} and summary["mean_tau"].iloc[0] == pytest.approx(expected.statistic)
    with pytest.raises(ValueError, match="one score per word"):
        kendall_tau(pd.concat([words, words]))


def test_top_bottom_words():
    words = pd.DataFrame({"model_id": "m", "framing": "positive", "prompt_key": ["p1"] * 4 + ["p2"] * 4,
                          "word": ["tabby", "puppy", "pet", "kitten"] * 2, "score": [4, 3, 2, 1, 1, 4, 3, 2]})
    ranked = rank_words(attach_categories(words, PETS))
    out = top_bottom_words(ranked, k=2)
    top = out[out.end == "top"]
    assert list(top["word"]) == ["puppy", "pet"] and list(top["mean_rank"]) == [1.5, 2.5]
    bottom = out[out.end == "bottom"]
    assert list(bottom["word"]) == ["kitten", "tabby"] and list(bottom["position"]) == [1, 2]
    assert top.set_index("word").loc["pet", "categories"] == "Cat; Dog"


def test_analysis_of_a_score_table_with_one_family_skips_the_comparison():
    scores = pd.DataFrame({"model_id": "m", "family": "f", "prompt_key": "best_ever_one", "framing": "positive",
                           "text": ["▁Tabby", "tabby", "puppy", "rock"], "score": [1.0, 3.0, 2.0, 0.0]})
    result = analyze_words(to_words(scores, "max"), PETS, resamples=99)
    assert result.family_summary is None and "two families" in result.notes[0]
    assert result.medians.set_index("category").loc["Cat", "median_rank"] == 1.0


# ---- end to end: synthetic families through import and analyze --------------------------------------
PROMPTS = [k for k in BATTERY if k.endswith("_one")]  # 18 prompts: 9 positive, 9 negative


def _write_synthetic(folder, shuffle: bool, seed: int = 11) -> None:
    """Family 'agentic' scores Agency nouns higher, 'communal' Communion nouns; models differ in strength."""
    lexicon = load_lexicon("big_two_nouns")
    words = lexicon.reply_words()
    agency = np.array(["Agency" in lexicon.categories_of(w) for w in words])
    rng = np.random.default_rng(seed)
    for family, preferred in (("agentic", agency), ("communal", ~agency)):
        (folder / family).mkdir(parents=True)
        for i, strength in enumerate((0.4, 0.7, 1.0)):
            table = {"response": words}
            for key in PROMPTS:
                scores = rng.normal(size=len(words)) + strength * preferred
                table[key] = rng.permutation(scores) if shuffle else scores
            pd.DataFrame(table).to_csv(folder / family / f"{family}{i}.csv", index=False)


def _import_and_analyze(tmp_path, shuffle: bool, capsys):
    home, data, out = tmp_path / "home", tmp_path / "data", tmp_path / "out"
    _write_synthetic(data, shuffle)
    for family in ("agentic", "communal"):
        assert cli.main(["--home", str(home), "import", str(data / family), "--family", family]) == 0
    runs = Cache(home).list_runs(status="done")
    assert len(runs) == 6 * len(PROMPTS) and set(runs["source"]) == {"imported"}
    capsys.readouterr()
    assert cli.main(["--home", str(home), "analyze", "--lexicon", "big_two_nouns", "--by", "family",
                     "--out", str(out), "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    summary = read_table(out / "family_summary.csv")
    return summary, printed, out


def test_analyze_finds_the_constructed_family_preference(tmp_path, capsys):
    summary, printed, out = _import_and_analyze(tmp_path, shuffle=False, capsys=capsys)
    assert "family summary: agentic vs communal" in printed and "p_bonferroni" in printed
    assert list(summary.columns[:8]) == ["framing", "category", "agentic", "communal", "diff", "p_perm",
                                         "p_bonferroni", "effect_size"]
    assert len(summary) == 4  # 2 categories x 2 framings
    for row in summary.itertuples():
        sign = -1 if row.category == "Agency" else 1  # rank 1 = best: agentic ranks Agency lower (better)
        assert np.sign(row.diff) == sign and np.sign(row.effect_size) == sign
        assert row.p_bonferroni < 0.01 and abs(row.effect_size) > 1
    mixed = read_table(out / "mixed_model.csv").set_index("term")
    interaction = mixed.loc["family[T.communal]:category[T.Communion]"]
    assert interaction["coef"] < 0 and interaction["p_value"] < 0.01
    medians = read_table(out / "median_ranks.csv")
    assert len(medians) == 6 * len(PROMPTS) * 2 and (medians["n_ranked"] == 263).all()
    meta = read_metadata(out / "family_summary.csv")
    assert meta["models"] == ["agentic0", "agentic1", "agentic2", "communal0", "communal1", "communal2"]
    assert meta["lexicon"].startswith("big_two_nouns") and "normalize_token" in meta["normalization"]
    assert meta["variant_policy"].startswith("mean") and meta["resamples"] == 9999 and "Hedges" in meta["method"]
    assert "revisions" in meta and meta["prompts"] == PROMPTS
    assert len(meta["runs"]) == 6 * len(PROMPTS)  # every run id, in the sidecar rather than a header line
    # the CSV starts with its header row: any CSV reader takes it as it is
    pd.testing.assert_frame_equal(pd.read_csv(out / "family_summary.csv", keep_default_na=False), summary,
                                  check_dtype=False)
    for name in ("word_ranks", "top_bottom_words", "kendall_tau", "kendall_tau_summary"):
        assert (out / f"{name}.csv").is_file()
    # the family differences with bootstrap intervals, as the Values page shows them; a plain read_csv opens them
    differences = pd.read_csv(out / "family_differences.csv")
    assert len(differences) == 4 and (differences["group_a"] == "agentic").all()
    for row in differences.itertuples():
        sign = -1 if row.category == "Agency" else 1
        assert row.ci_low <= row.diff <= row.ci_high and np.sign(row.ci_low) == np.sign(row.ci_high) == sign
    assert "verdict: agentic ranks" in printed and "4 of 4 panels differ at 95%" in printed
    assert read_metadata(out / "family_differences.csv")["seed"] == 1  # the analysis seed


def test_shuffled_control_finds_nothing(tmp_path, capsys):
    summary, printed, out = _import_and_analyze(tmp_path, shuffle=True, capsys=capsys)
    assert len(summary) == 4
    assert (summary["p_bonferroni"] > 0.05).all()
    assert (summary["effect_size"].abs() < 0.8).all()
    assert "verdict:" in printed and len(pd.read_csv(out / "family_differences.csv")) == 4


# ---- analyze reads computed runs from the cache too ------------------------------------------------
VOCAB = ["▁Tabby", "tabby", "ĠTABBY", "▁puppy", "Ġpet", "▁hounds", "你好", "▁rock"]


def _save_vocab_run(cache, model, family, prompt, scores, texts=VOCAB):
    meta = {"request_key": f"{model}-{prompt}", "model_id": model, "family": family, "revision": "abc123",
            "prompt_key": prompt, "prompt_text": BATTERY[prompt].text, "framing": BATTERY[prompt].framing,
            "candidates": "vocab", "score_kind": "reward"}
    return cache.save_run(meta, pd.DataFrame({"token_id": range(len(texts)), "text": texts, "score": scores}))


def test_analyze_computed_vocab_runs_with_variant_policy(tmp_path, capsys):
    cache = Cache(tmp_path)
    rng = np.random.default_rng(0)
    for model, family in (("rm-one", "llama"), ("rm-two", "gemma")):
        for prompt in ("best_ever_one", "worst_ever_one"):
            _save_vocab_run(cache, model, family, prompt, rng.normal(size=8))
    lexicon_file = tmp_path / "pets.dic"
    lexicon_file.write_text("%\n1\tCat\n2\tDog\n%\ntabby\t1\npuppy\t2\npet\t1 2\nhound*\t2\n")
    out = tmp_path / "out"
    code = cli.main(["--home", str(tmp_path), "analyze", "--lexicon", str(lexicon_file), "--variants", "all_variants",
                     "--resamples", "99", "--out", str(out), "--format", "parquet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "gemma vs llama" in printed and "all_variants" in printed
    ranks = pd.read_parquet(out / "word_ranks.parquet")
    assert set(ranks["variant_policy"]) == {"all_variants"}
    per_run = ranks.groupby(["model_id", "prompt_key"])
    assert (per_run.size() == 6).all()  # 3 tabby variants + puppy + pet + hounds; 你好 and rock dropped
    assert (ranks.loc[ranks.word == "tabby", "n_variants"] == 3).all()
    meta = read_metadata(out / "median_ranks.parquet")
    assert meta["revisions"] == "rm-one=abc123, rm-two=abc123" and meta["lexicon"].startswith("pets")
    assert meta["candidates"] == ["vocab"] and meta["variant_policy"].startswith("all_variants")


@pytest.mark.parametrize("policy", ["mean", "max", "all_variants"])
def test_load_words_in_duckdb_matches_to_words(tmp_path, policy):
    cache = Cache(tmp_path)
    texts = ["▁Tabby", "tabby", "ĠTABBY", "▁puppy", "▁puppy", "Ġpet", "你好", "▁rock", "Rock", "▁hounds"]
    rng = np.random.default_rng(5)
    for model in ("m1", "m2"):
        for prompt in ("best_ever_one", "worst_ever_one"):
            scores = rng.integers(0, 3, size=len(texts)).astype(float)  # many ties between variants
            _save_vocab_run(cache, model, "f", prompt, scores, texts)
    runs = select_runs(cache)
    columns = ["run_id", "word", "score", "n_variants", "text"]
    for lexicon in (None, PETS):
        fast = load_words(cache, runs, policy, lexicon=lexicon)
        scores = cache.scores_for_runs(list(runs["run_id"]))
        slow = to_words(scores, policy, by=("run_id",))
        if lexicon is not None:
            slow = attach_categories(slow, lexicon).drop(columns="categories")
        cols = [c for c in columns if c in slow.columns]
        a = fast[cols].astype({c: object for c in cols if c not in ("score", "n_variants")}).sort_values(cols).reset_index(drop=True)
        b = slow[cols].astype({c: object for c in cols if c not in ("score", "n_variants")}).sort_values(cols).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
        assert (fast["model_id"].astype(str).isin(["m1", "m2"])).all() and set(fast["variant_policy"]) == {policy}
    assert "rock" in set(load_words(cache, runs, policy)["word"]) and "rock" not in set(fast["word"])


def test_analyze_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["--home", str(tmp_path), "analyze", "--lexicon", "big_two_nouns"]) == 2
    assert "No completed runs" in capsys.readouterr().err
    assert cli.main(["--home", str(tmp_path), "analyze", "--lexicon", "nope"]) == 2
    assert "No lexicon 'nope'" in capsys.readouterr().err


def test_two_families_without_variance_are_not_tested():
    medians = pd.DataFrame({"model_id": ["a1", "a2", "b1", "b2"], "family": ["a", "a", "b", "b"],
                            "prompt_key": "p", "framing": "positive", "category": "Agency",
                            "median_rank": [1.0, 1.0, 2.0, 2.0]})
    row = compare_families(medians, families=["a", "b"], resamples=99).iloc[0]
    assert np.isnan(row["p_perm"]) and np.isnan(row["t_welch"]) and row["note"].startswith("not tested")
    assert row["diff"] == -1.0
