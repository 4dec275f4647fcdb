"""The paper's statistics and lexicon choices: Welch p, Type-II ANOVA, Welch post-hoc with BH, stars,
category choice and merge, the shared-vocabulary filter."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.formula.api import ols
from statsmodels.stats.multitest import multipletests

from engine import cli
from engine.analysis.lexicons import LexiconError, load_lexicon, merge_categories, select_categories
from engine.analysis.paper_stats import benjamini_hochberg, stars, type2_anova, welch_posthoc
from engine.analysis.shared_vocabulary import keep_shared, read_token_list, shared_strings
from engine.analysis.stats import compare_families, family_test_doc
from engine.prompts import BATTERY
from engine.store.db import Cache
from engine.store.queries import load_words, select_runs


def _medians(seed: int = 0, groups=("gemma", "llama"), column="family") -> pd.DataFrame:
    """(model, prompt, category) medians with a built-in group x category x framing structure."""
    rng = np.random.default_rng(seed)
    rows = []
    for g, group in enumerate(groups):
        for m in range(3):
            for p, prompt in enumerate(["best_ever_one", "good_time_one", "worst_ever_one", "bad_time_please"]):
                framing = BATTERY[prompt].framing
                for c, category in enumerate(["Agency", "Communion"]):
                    shift = 4 * g * c + 3 * (framing == "negative") * (1 - c)
                    rows.append({"model_id": f"{group}-{m}", column: group, "prompt_key": prompt, "framing": framing,
                                 "category": category, "median_rank": 50 + shift + rng.normal(0, 2)})
    return pd.DataFrame(rows)


def test_welch_test_equals_scipy_welch():
    medians = _medians()
    out = compare_families(medians, test="welch")
    assert "p_welch" in out.columns and "p_perm" not in out.columns
    for row in out.itertuples():
        panel = medians[(medians["framing"] == row.framing) & (medians["category"] == row.category)]
        a = panel.loc[panel["family"] == "gemma", "median_rank"]
        b = panel.loc[panel["family"] == "llama", "median_rank"]
        expected = stats.ttest_ind(a, b, equal_var=False)
        assert row.p_welch == pytest.approx(expected.pvalue, rel=1e-12)
        assert row.t_welch == pytest.approx(expected.statistic, rel=1e-12)
    np.testing.assert_allclose(out["p_bonferroni"], np.minimum(out["p_welch"] * len(out), 1))
    assert "p_welch = two-sided Welch's t-test" in family_test_doc(out)
    assert "permutation" in family_test_doc(compare_families(medians, resamples=99))
    with pytest.raises(ValueError, match="Unknown test"):
        compare_families(medians, test="bootstrap")


def test_type2_anova_equals_statsmodels():
    medians = _medians(1, groups=("model-a", "model-b"), column="model")
    out = type2_anova(medians, between="model")
    fit = ols("median_rank ~ C(category) * C(framing) * C(model)", data=medians).fit()
    expected = sm.stats.anova_lm(fit, typ=2)
    assert list(out["term"]) == ["category", "valence", "model", "category:valence", "category:model",
                                 "valence:model", "category:valence:model", "Residual"]
    np.testing.assert_allclose(out["sum_sq"], expected["sum_sq"])
    np.testing.assert_allclose(out["F"].iloc[:-1], expected["F"].iloc[:-1])
    np.testing.assert_allclose(out["p_value"].iloc[:-1], expected["PR(>F)"].iloc[:-1])
    assert out.loc[out["term"] == "category:model", "p_value"].item() < 0.01  # the built-in interaction
    with pytest.raises(ValueError, match="two levels of model"):
        type2_anova(medians[medians["model"] == "model-a"], between="model")


def test_benjamini_hochberg_equals_multipletests():
    p = np.array([0.001, 0.04, 0.03, np.nan, 0.5, 0.012])
    out = benjamini_hochberg(p)
    np.testing.assert_allclose(out[np.isfinite(p)], multipletests(p[np.isfinite(p)], method="fdr_bh")[1])
    assert np.isnan(out[3])


def test_welch_posthoc_with_bh_over_cells():
    medians = _medians(2, groups=("model-a", "model-b"), column="model")
    out = welch_posthoc(medians, ("model-a", "model-b"), between="model")
    assert len(out) == 4 and list(out["framing"]) == ["positive", "positive", "negative", "negative"]
    raw = []
    for row in out.itertuples():
        cell = medians[(medians["category"] == row.category) & (medians["framing"] == row.framing)]
        res = stats.ttest_ind(cell.loc[cell["model"] == "model-a", "median_rank"],
                              cell.loc[cell["model"] == "model-b", "median_rank"], equal_var=False)
        raw.append(res.pvalue)
    np.testing.assert_allclose(out["p_welch"], raw)
    np.testing.assert_allclose(out["p_fdr"], multipletests(raw, method="fdr_bh")[1])
    assert list(out["stars"]) == [stars(p) for p in out["p_fdr"]]


def test_stars_thresholds():
    assert [stars(p) for p in (0.0009, 0.001, 0.0099, 0.01, 0.049, 0.05, np.nan)] == ["***", "**", "**", "*", "*", "n.s.", ""]


MFD_LIKE = ("DicTerm,Care_Virtue,Care_Vice,Sanctity_Virtue,Sanctity_Vice\n"
            "kind,X,,,\nhelp,X,,,\ncruel,,X,,\nharm,,X,,\nhurt,,X,,\npure,,,X,\nfilth,,,,X\ndirty,,,,X\n")


def test_merge_virtue_and_vice_gives_the_counts_it_should(tmp_path):
    path = tmp_path / "mfd_like.dicx"
    path.write_text(MFD_LIKE)
    lexicon = load_lexicon(path)
    merged = merge_categories(lexicon, ["prefix"])
    assert merged.categories == ["Care", "Sanctity"]
    assert merged.category_counts() == {"Care": 5, "Sanctity": 3}
    assert merged.categories_of("cruel") == {"Care"} and merged.sha256 == lexicon.sha256
    chosen = merge_categories(select_categories(lexicon, ["Care_Virtue", "Care_Vice", "Sanctity_Virtue"]), ["prefix"])
    assert chosen.category_counts() == {"Care": 5, "Sanctity": 1}
    assert chosen.categories_of("filth") == set()  # a left-out category's words are not ranked at all
    named = merge_categories(lexicon, ["Harm=Care_Vice+Sanctity_Vice"])
    assert named.categories == ["Care_Virtue", "Harm", "Sanctity_Virtue"] and named.category_counts()["Harm"] == 5
    mfd2 = merge_categories(load_lexicon("mfd2"), ["prefix"])  # the MFD 2.0 .dic spells them care.virtue
    assert mfd2.categories == ["care", "fairness", "loyalty", "authority", "sanctity"]
    with pytest.raises(LexiconError, match="no category Nope"):
        select_categories(lexicon, ["Nope"])
    with pytest.raises(LexiconError, match="NEW=OLD1"):
        merge_categories(lexicon, ["Care_Vice"])


def test_intersection_filter_keeps_exact_strings_only(tmp_path):
    listing = tmp_path / "token_intersection.csv"
    listing.write_text('"","token_decoded"\n"1","love"\n"2"," Love"\n"3","NA"\n"4",""\n')
    kept = read_token_list(listing)
    assert kept == {"love", " Love", "NA", ""}
    assert shared_strings([["love", " love", "x"], ["love", " love"], ["love", "LOVE", " love"]]) == {"love", " love"}
    scores = pd.DataFrame({"text": ["love", " love", "Love", " Love", "NA", "loves"], "score": range(6)})
    assert list(keep_shared(scores, kept)["text"]) == ["love", " Love", "NA"]
    # In the cache: the filter applies to exact texts before normalisation; variants are then ranked on their own.
    cache = Cache(tmp_path / "home")
    texts = ["love", " love", "Love", " Love", "hate", " hate"]
    for model, family in (("rm-a", "llama"), ("rm-b", "gemma")):
        meta = {"request_key": model, "model_id": model, "family": family, "prompt_key": "best_ever_one",
                "prompt_text": BATTERY["best_ever_one"].text, "framing": "positive", "candidates": "vocab",
                "score_kind": "reward"}
        cache.save_run(meta, pd.DataFrame({"token_id": range(6), "text": texts, "score": np.arange(6.0)}))
    words = load_words(cache, select_runs(cache), "all_variants", keep_texts=kept)
    assert sorted(words["text"].astype(str).unique()) == [" Love", "love"]
    assert set(words["n_variants"]) == {2}


def _save_vocab_run(cache, model: str, family: str, prompt: str, texts: list[str], scores, score_kind: str) -> None:
    """One cached vocabulary run of `model` on battery prompt `prompt`."""
    meta = {"request_key": f"{model}-{prompt}", "model_id": model, "family": family, "prompt_key": prompt,
            "prompt_text": BATTERY[prompt].text, "framing": BATTERY[prompt].framing, "candidates": "vocab",
            "score_kind": score_kind}
    cache.save_run(meta, pd.DataFrame({"token_id": range(len(texts)), "text": texts, "score": scores}))


def test_analyze_with_merged_categories_and_shared_vocabulary(tmp_path, capsys):
    path = tmp_path / "mfd_like.dicx"
    path.write_text(MFD_LIKE)
    cache = Cache(tmp_path / "home")
    rng = np.random.default_rng(0)
    words = ["kind", "help", "cruel", "harm", "hurt", "pure", "filth", "dirty", " kind"]
    for model, family in (("rm-a", "llama"), ("rm-b", "llama"), ("rm-c", "gemma"), ("rm-d", "gemma")):
        for prompt in ("best_ever_one", "greatest_time_one", "worst_ever_one", "bad_world_single"):
            texts = words if model != "rm-d" else words[:-1]  # " kind" is not in every vocabulary
            _save_vocab_run(cache, model, family, prompt, texts, rng.normal(size=len(texts)), "reward")
    out = tmp_path / "out"
    code = cli.main(["--home", str(tmp_path / "home"), "analyze", "--lexicon", str(path), "--test", "welch",
                     "--categories", "Care_Virtue", "Care_Vice", "Sanctity_Virtue", "--merge-categories", "prefix",
                     "--shared-vocabulary", "models", "--variants", "all_variants", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "p_welch" in printed and "shared-vocabulary filter" in printed and "(8 strings)" in printed
    medians = pd.read_csv(out / "median_ranks.csv", comment="#")
    assert set(medians["category"]) == {"Care", "Sanctity"}
    assert set(medians["n_ranked"]) == {6}  # 5 Care + 1 Sanctity; Sanctity_Vice and " kind" left out
    assert set(medians.loc[medians["category"] == "Care", "n_words"]) == {5}


def test_analyze_anova_between_two_models_on_exact_words(tmp_path, capsys):
    lexicon = tmp_path / "nouns.csv"
    lexicon.write_text("Category,token_decoded\nAgency,power\nAgency,skill\nCommunion,love\nCommunion,care\n")
    cache = Cache(tmp_path / "home")
    texts = ["power", " power", "Power", "skill", "love", " love", "care", "rock"]
    rng = np.random.default_rng(4)
    prompts = ["best_ever_one", "greatest_time_one", "good_world_single", "worst_ever_one", "bad_time_please",
               "terrible_world_one"]
    for model, family in (("base-a", "gemma"), ("base-b", "llama")):
        for prompt in prompts:
            _save_vocab_run(cache, model, family, prompt, texts, rng.normal(size=len(texts)), "logprob")
    out = tmp_path / "out"
    assert cli.main(["--home", str(tmp_path / "home"), "analyze", "--lexicon", str(lexicon), "--exact-words",
                     "--variants", "all_variants", "--anova", "--resamples", "99", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ANOVA (three-way Type-II" in printed and "Benjamini-Hochberg" in printed
    ranks = pd.read_csv(out / "word_ranks.csv", comment="#", keep_default_na=False)
    assert sorted(ranks["text"].unique()) == ["care", "love", "power", "skill"]  # no " power", "Power", " love"
    medians = pd.read_csv(out / "median_ranks.csv", comment="#")
    fit = ols("median_rank ~ C(category) * C(framing) * C(model_id)", data=medians).fit()
    anova = pd.read_csv(out / "anova.csv", comment="#")
    np.testing.assert_allclose(anova["sum_sq"], sm.stats.anova_lm(fit, typ=2)["sum_sq"])
    posthoc = pd.read_csv(out / "posthoc.csv", comment="#")
    assert len(posthoc) == 4 and {"p_welch", "p_fdr", "stars"} <= set(posthoc.columns)
    assert cli.main(["--home", str(tmp_path / "home"), "analyze", "--lexicon", str(lexicon), "--anova",
                     "--models", "base-a"]) == 2
    assert "exactly two models" in capsys.readouterr().err
