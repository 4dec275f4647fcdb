"""Implicit reward models: antisymmetry, the word join, exact multi-token log-probs, different tokenizers."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import make_tiny_model_dir
from transformers import AutoModelForCausalLM

from engine import cli
from engine.analysis.stats import compare_families, hedges_g
from engine.reports.export import read_metadata
from engine.analysis.implicit import category_summary, join_on_words, mwlr, top_bottom
from engine.workflows.implicit import run_implicit
from engine.analysis.lexicons import Lexicon
from engine.models.loading import load_model
from engine.analysis.words import normalize_token
from engine.prompts import BATTERY
from engine.models.registry import resolve_spec
from engine.workflows.runner import Runner
from engine.scoring.search import score_texts
from engine.scoring.templates import build_framing

PROMPTS = ["greatest_ever_one", "worst_time_single"]  # one positive, one negative
NAMED = ["freedom", "love"]
BATTERY_FRAMING = {key: p.framing for key, p in BATTERY.items()}
# Words of the tiny tokenizers' corpus in two made-up categories (multi-token for a 300-token BPE).
TINY_BIG_TWO = Lexicon(
    name="tiny_big_two", categories=["Agency", "Communion"],
    entries={w: frozenset({"Agency"}) for w in ("freedom", "power", "achievement", "success", "authority")}
    | {w: frozenset({"Communion"}) for w in ("love", "family", "kindness", "care", "loyalty")},
    wildcards={},
)
OTHER_CORPUS = [
    "Loving kindness and LOVE, love, Love: freedom is the greatest thing, said the family of friends.",
    "Power, success and achievement; hate, war and cruelty are the worst things in the world.",
    "one word only please: peace, honesty, fairness, purity, care and respect for authority",
]


@pytest.fixture(scope="module")
def two_vocab_dirs(tmp_path_factory):
    """A tiny Llama and a tiny Gemma 3 with different vocabularies (different corpora and sizes)."""
    root = tmp_path_factory.mktemp("implicit-models")
    a = make_tiny_model_dir(root / "tiny-llama-a", "llama", vocab_size=420, seed=0)
    b = make_tiny_model_dir(root / "tiny-gemma-b", "gemma3", vocab_size=400, seed=1, seed_text=OTHER_CORPUS,
                            chat_template=None)
    return str(a), str(b)


# ---- 1. antisymmetry ------------------------------------------------------------------------------
def test_swapping_the_models_flips_the_sign_of_mwlr_exactly(two_vocab_dirs):
    a, b = two_vocab_dirs
    runner = Runner()
    common = dict(lexicon=TINY_BIG_TWO, words=NAMED, resamples=99)
    ab = run_implicit(runner, [(a, b)], PROMPTS, templates=[("chat", "plain")], **common)
    ba = run_implicit(runner, [(b, a)], PROMPTS, templates=[("plain", "chat")], **common)
    assert ba.runs["from_cache"].all() and not ab.runs["from_cache"].any()  # swapped: every run from the cache
    for name in ("vocab", "lexicon_words", "named"):
        x, y = getattr(ab, name), getattr(ba, name)
        assert len(x) > 0 and len(x) == len(y)
        merged = x.merge(y, on=["prompt_key", "word"], suffixes=("_ab", "_ba"))
        assert len(merged) == len(x)
        assert np.array_equal(merged["mwlr_ba"].to_numpy(), -merged["mwlr_ab"].to_numpy())  # bit for bit
        assert np.array_equal(merged["log_ratio_ba"].to_numpy(), -merged["log_ratio_ab"].to_numpy())
        assert np.array_equal(merged["logp_a_ab"].to_numpy(), merged["logp_b_ba"].to_numpy())
        assert (merged["mwlr_ab"] != 0).any()
    for name in ("vocab_mean", "lexicon_mean", "named_summary"):
        x, y = getattr(ab, name), getattr(ba, name)
        merged = x.merge(y, on="word", suffixes=("_ab", "_ba"))
        assert len(merged) == len(x) == len(y)
        np.testing.assert_array_equal(merged["mwlr_ba"].to_numpy(), -merged["mwlr_ab"].to_numpy())
    # top list of A -> B is the bottom list of B -> A, in order
    tb_ab, tb_ba = top_bottom(ab.vocab_mean, 5), top_bottom(ba.vocab_mean, 5)
    assert list(tb_ab.loc[tb_ab["end"] == "top", "word"]) == list(tb_ba.loc[tb_ba["end"] == "bottom", "word"])
    cs = ab.category_summary.merge(ba.category_summary, on=["framing", "category"], suffixes=("_ab", "_ba"))
    np.testing.assert_allclose(cs["mean_mwlr_ba"], -cs["mean_mwlr_ab"], rtol=1e-12, atol=0)
    # every output says which template each side used
    assert set(ab.pairs[["template_a", "template_b"]].iloc[0]) == {"chat", "plain"}
    assert ab.pairs["template_a"].iloc[0] == ba.pairs["template_b"].iloc[0] == "chat"


# ---- 2. the word join does not depend on which token comes first ---------------------------------
def test_join_keeps_the_most_probable_token_whatever_the_row_order():
    a = pd.DataFrame({"token_id": [5, 9, 7, 3, 11, 12], "text": ["Love", " love", "LOVE", "hate", "❤", "\x00"],
                      "score": [-1.0, -0.5, -0.5, -2.0, -0.1, -0.2]})
    b = pd.DataFrame({"token_id": [1, 2, 4], "text": [" hate", "love", "Hate"], "score": [-3.0, -0.25, -1.5]})
    expected = join_on_words(a, b)
    # every order of the three "love" variants (two of them tied), the other rows before or after them
    orders_a = [(*love, 3, 4, 5) for love in itertools.permutations((0, 1, 2))] + \
               [(5, 4, 3, *love) for love in itertools.permutations((0, 1, 2))]
    for order_a, order_b in itertools.product(orders_a, ((0, 1, 2), (2, 1, 0))):
        got = join_on_words(a.iloc[list(order_a)], b.iloc[list(order_b)])
        pd.testing.assert_frame_equal(got, expected)
    love = expected.set_index("word").loc["love"]
    assert love["logp_a"] == -0.5 and love["token_a"] == " love" and love["n_variants_a"] == 3  # tie: smallest text
    hate = expected.set_index("word").loc["hate"]
    assert hate["logp_b"] == -1.5 and hate["token_b"] == "Hate" and hate["n_variants_b"] == 2  # most probable kept
    assert list(expected["word"]) == ["hate", "love"]  # "❤" normalises to "", "\x00" is a control character
    assert love["mwlr"] == pytest.approx(0.5 * (np.exp(-0.5) + np.exp(-0.25)) * 0.25, abs=1e-15)
    assert expected.attrs["join_rule"].startswith("vocabulary")


# ---- 3. multi-token words: teacher forcing equals a step-by-step reference ------------------------
@pytest.mark.parametrize("arch, template", [("llama", "chat"), ("gemma3", "plain")])
def test_multi_token_logprob_equals_step_by_step_reference(tmp_path, arch, template):
    model_dir = make_tiny_model_dir(tmp_path / arch, arch, seed=3)
    lm = load_model(resolve_spec(str(model_dir), kind="causal_lm"), mode="logprob", device="cpu")
    prompt = "What, in one word, is the greatest thing ever?"
    framing = build_framing(lm.tokenizer, prompt, template)
    words = ["freedom", "peace of mind", "kindness", "love", "Family and friends"]
    ours = score_texts(lm, framing, words, batch_size=2).set_index("text")
    assert (ours["n_tokens"] > 1).sum() >= 3
    reference = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    for word in words:
        reply = framing.split_reply(lm.tokenizer, word)[0]
        assert lm.tokenizer.decode(reply) == word
        total, first = 0.0, None
        with torch.no_grad():
            for t, token in enumerate(reply):  # the whole sequence so far, one new token per step
                ids = torch.tensor([[*framing.prefix_ids, *reply[:t]]])
                step = torch.log_softmax(reference(input_ids=ids).logits[0, -1].double(), dim=-1)[token].item()
                total += step
                first = step if first is None else first
        assert ours.loc[word, "n_tokens"] == len(reply)
        assert ours.loc[word, "score"] == pytest.approx(total, abs=1e-4)
        assert ours.loc[word, "first_token_score"] == pytest.approx(first, abs=1e-4)


# ---- 4. different tokenizers are joined on the normalised word ------------------------------------
def test_vocabulary_join_across_different_tokenizers(two_vocab_dirs, tmp_path):
    a, b = two_vocab_dirs
    prompt = "What, in one word, is the greatest thing ever?"
    result = run_implicit(Runner(), [(a, b)], [prompt], templates=[("chat", "plain")])
    joined = result.vocab.set_index("word")
    best = {}
    for side, path, template in (("a", a, "chat"), ("b", b, "plain")):
        lm = load_model(resolve_spec(path, kind="causal_lm"), mode="logprob", device="cpu")
        prefix = build_framing(lm.tokenizer, prompt, template).prefix_ids
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([prefix])).logits[0, -1].double(), dim=-1)
        vocab = lm.tokenizer.convert_ids_to_tokens(list(range(lm.vocab_size)))
        words = pd.DataFrame({"word": [normalize_token(lm.tokenizer.decode([i])) for i in range(lm.vocab_size)],
                              "logp": logp[: lm.vocab_size].numpy()})
        words = words[(words["word"] != "") & words["word"].map(str.isprintable)]  # byte tokens are dropped
        best[side] = words.groupby("word")["logp"].max()
        best[f"{side}_vocab"] = set(vocab)
        best[f"{side}_n"] = words.groupby("word").size()
    assert best["a_vocab"] != best["b_vocab"]  # really two vocabularies
    shared = set(best["a"].index) & set(best["b"].index)
    assert set(best["a"].index) - shared and set(best["b"].index) - shared  # each has words the other lacks
    assert set(joined.index) == shared
    np.testing.assert_allclose(joined["logp_a"], best["a"].reindex(joined.index), atol=1e-5)
    np.testing.assert_allclose(joined["logp_b"], best["b"].reindex(joined.index), atol=1e-5)
    np.testing.assert_allclose(joined["mwlr"], mwlr(joined["logp_a"], joined["logp_b"]), rtol=0, atol=0)
    np.testing.assert_array_equal(joined["n_variants_a"], best["a_n"].reindex(joined.index))
    assert (joined["n_variants_a"] > 1).any() or (joined["n_variants_b"] > 1).any()  # the keep-most-probable rule applied
    assert set(result.runs["template"]) == {"chat", "plain"}

    # the CLI writes the same join with its provenance header
    out = tmp_path / "out"
    assert cli.main(["implicit", "--model-a", a, "--model-b", b, "--template-a", "chat", "--template-b", "plain",
                     "--prompt", prompt, "--words", "freedom,love", "--top", "3", "--out", str(out)]) == 0
    table = pd.read_csv(out / "vocab_words.csv")  # header on line 1, provenance in vocab_words.meta.json
    np.testing.assert_allclose(table.set_index("word")["mwlr"].reindex(joined.index), joined["mwlr"], rtol=1e-12)
    meta = read_metadata(out / "vocab_words.csv")
    assert meta["templates"] == f"A {a}=chat, B {b}=plain"
    assert "most probable token" in meta["join_rule"] and meta["normalization"].startswith("normalize_token")
    assert (out / "named_comparison.csv").exists() and (out / "vocab_top_bottom.csv").exists()


def test_category_summary_uses_the_value_analysis_statistics():
    """Synthetic implicit-RM table: B favours Communion words over Agency words, except one word per
    prompt that moves (so the per-prompt median ranks vary, as real ones do)."""
    agency = [w for w, c in TINY_BIG_TWO.entries.items() if "Agency" in c]
    communion = [w for w, c in TINY_BIG_TWO.entries.items() if "Communion" in c]
    moves = {"greatest_ever_one": {}, "best_world_please": {agency[0]: 5.0}, "good_time_single": {communion[0]: -5.0},
             "worst_ever_one": {agency[1]: 5.0}, "bad_world_please": {}, "terrible_time_single": {communion[1]: -5.0}}
    rows = []
    for key, moved in moves.items():
        for i, word in enumerate(communion + agency):
            value = moved.get(word, (1.0 if word in communion else -1.0) - 0.01 * i)
            rows.append({"pair": "A -> B", "model_a": "A", "model_b": "B", "prompt_key": key, "framing": BATTERY_FRAMING[key],
                         "word": word, "mwlr": value, "log_ratio": 10 * value})
    table = pd.DataFrame(rows)
    summary, medians, tests = category_summary(table, TINY_BIG_TWO, resamples=999)
    assert sorted(medians.loc[medians["category"] == "Communion", "median_rank"]) == [3, 3, 3, 3, 4, 4]
    assert sorted(medians.loc[medians["category"] == "Agency", "median_rank"]) == [7, 7, 8, 8, 8, 8]
    allf = summary[summary["framing"] == "all"].set_index("category")
    assert allf.loc["Communion", "mean_mwlr"] > 0 > allf.loc["Agency", "mean_mwlr"]
    assert allf.loc["Communion", "mean_median_rank"] == pytest.approx(20 / 6)  # rank 1 = favoured most by B
    assert list(tests["framing"]) == ["positive", "negative"] and (tests["n_1"] == 3).all()
    # the same statistics as the value analysis: permutation Welch t, Bonferroni, Hedges' g
    for row in tests.itertuples():
        m = medians[medians["framing"] == row.framing]
        a = m.loc[m["category"] == "Agency", "median_rank"].to_numpy(float)
        c = m.loc[m["category"] == "Communion", "median_rank"].to_numpy(float)
        assert row.diff == pytest.approx(a.mean() - c.mean()) and row.diff > 0
        assert row.effect_size == pytest.approx(hedges_g(a, c))
        assert row.p_perm == pytest.approx(compare_families(
            pd.DataFrame({"family": ["Agency"] * 3 + ["Communion"] * 3, "framing": row.framing, "category": "x",
                          "median_rank": np.concatenate([a, c])}), ("Agency", "Communion"), resamples=999)["p_perm"].iloc[0])
    assert np.allclose(tests["p_bonferroni"], np.minimum(1, 2 * tests["p_perm"]))
    flipped = category_summary(table.assign(mwlr=-table["mwlr"], log_ratio=-table["log_ratio"]), TINY_BIG_TWO, resamples=999)
    np.testing.assert_allclose(flipped[0]["mean_mwlr"], -summary["mean_mwlr"])
    np.testing.assert_allclose(flipped[2]["diff"], -tests["diff"])
