"""Value trajectories of trained reward models: Big Two median ranks per checkpoint (Figs 4a, 4b, 5).

Method (after Christian et al., ICLR 2026, section 5): every checkpoint of every base is scored
through the engine's `Runner` (reward mode, cached in DuckDB like any search) on each chosen prompt with
- candidates "lexicon": the Big Two nouns (`big_two_nouns`) as whole replies, categories from that
  list (fast; the CPU default), or
- candidates "vocab": every vocabulary token as the reply, normalised to words (`to_words`, policy
  "mean": one row per word, the mean over its token variants) and matched to the expanded Big Two
  dictionary (`big_two_expanded`, LIWC wildcards). The paper differs: it keeps only tokens in the
  bases' shared vocabulary and ranks every variant separately (about 1,365 rows), so its ranks and
  these are not on one scale.
Within one (checkpoint, prompt) the matched words are ranked (1 = highest reward, ties averaged;
`engine.analysis.rank_words`) and each category's median rank taken (`category_medians`).
Each checkpoint is scored as it was trained (its recorded dtype and quantisation, and its device
when this machine has one; engine/models/loading.py), and the search records how it ran.
Tables: `category_trajectory` = median rank per category vs step per base and seed, the mean over
prompts when there are several (Fig 4a); `seed_spread` = its mean, sd, min and max across seeds (a
run trained with `seeds`; one seed shows no spread, which is not the same as none);
`data_quantity_table` = the last checkpoint of each data variant vs its number of training pairs
(Fig 4b); `word_rank_changes` = each word's rank at the first and last checkpoint, mean over prompts
and seeds, and how far it rose (Fig 5; "first" is step 0, the base with its seeded random head, not
the authors' first saved checkpoint); `training_curves` = loss and accuracy.
With lexicon candidates every base ranks the same words, so ranks compare across bases directly;
with the vocabulary they differ in count, and `median_rank_pct` (rank / words ranked) compares.

method="paper" (the authors' R and Python, generate_figure_4_and_A5.R, generate_figure_5_and_A6.py):
every vocabulary token on `greatest_ever_one`; Fig 4a keeps only exact decoded strings present in
every scored base's vocabulary (their token_intersection.csv; applied before normalisation), matches
the expanded Big Two list (`big_two_expanded`, the authors' file byte for byte; a word listed twice
there counts once here) and ranks every variant on its own (all_variants); Fig 5 averages the
variants of each of the 263 nouns (mean) and compares the first *trained* checkpoint with the last.
Step 0 is the base with a random head, so a change measured from it is the head's, not training's;
valuescope's view from the first saved checkpoint (step 0) stays the default (start="first").
"""
from __future__ import annotations

import gc
from pathlib import Path

import pandas as pd

from engine.analysis.values import attach_categories, category_medians, rank_words
from engine.analysis.lexicons import load_lexicon
from engine.analysis.shared_vocabulary import keep_shared, shared_strings
from engine.analysis.words import to_words
from engine.configs import SearchConfig
from engine.models.manifests import adapter_revision
from engine.training.checkpoints import list_checkpoint_manifests
from engine.store.db import Cache
from engine.training.runlog import read_log, read_summary
from engine.workflows.runner import Runner
from engine.errors import InputError

CATEGORY_LEXICON = {"lexicon": "big_two_nouns", "vocab": "big_two_expanded"}
METHODS = ("valuescope", "paper")
RANK_CHANGE_STARTS = ("first", "first_trained")
_CHECKPOINT_COLUMNS = ["base", "family", "variant", "n_train_pairs", "seed", "step"]


def checkpoint_table(run_dir) -> pd.DataFrame:
    """One row per saved checkpoint: base, variant, step, alias, path, held-out accuracy and losses."""
    rows = []
    for m in list_checkpoint_manifests(Path(run_dir)):
        evaluation = m.get("eval") or {}
        trained_as = m.get("trained_as") or {}
        rows.append({"base": m.get("base"), "family": m.get("family"), "variant": m.get("variant"),
                     "n_train_pairs": m.get("n_train_pairs"), "seed": m.get("seed", (m.get("settings") or {}).get("seed", 0)),
                     "swapped": bool(m.get("swapped")), "step": m.get("step"), "total_steps": m.get("total_steps"),
                     "trained_device": trained_as.get("device"), "trained_dtype": trained_as.get("dtype"),
                     "trained_quantization": trained_as.get("quantization", "none"),
                     "alias": m.get("alias"), "eval_accuracy": evaluation.get("accuracy"),
                     "eval_loss": evaluation.get("loss"), "eval_pairs": evaluation.get("n_pairs"),
                     "train_loss": m.get("train_loss"), "revision": adapter_revision(m["path"], m), "path": m["path"]})
    if not rows:
        raise InputError(f"No checkpoints in {run_dir} (folders with valuescope-model.json).")
    return pd.DataFrame(rows)


def score_checkpoints(run_dir, prompts: list[str] | None = None, candidates: str | None = None, home=None,
                      progress=None, cancel=None, dtype: str = "auto", device: str | None = None,
                      method: str = "valuescope") -> pd.DataFrame:
    """Ranked Big Two words per (checkpoint, prompt); prompts/candidates default to the run's settings.

    Columns: base, family, variant, n_train_pairs, step, model_id (checkpoint alias), prompt_key,
    framing, word, score, categories, rank, n_ranked. `progress(done, total, info)` per (checkpoint, prompt).
    """
    if method not in METHODS:
        raise InputError(f"Unknown method {method!r}: use {' or '.join(METHODS)}.")
    settings = read_summary(run_dir).get("settings", {})
    if method == "paper":
        prompts, candidates = prompts or ["greatest_ever_one"], "vocab"
    prompts = prompts or settings.get("prompts") or ["greatest_ever_one"]
    candidates = candidates or settings.get("candidates") or "lexicon"
    if candidates not in CATEGORY_LEXICON:
        raise InputError(f"candidates must be lexicon or vocab, got {candidates!r}.")
    lexicon = load_lexicon(CATEGORY_LEXICON[candidates])
    words = lexicon.reply_words() if candidates == "lexicon" else None
    checkpoints = checkpoint_table(run_dir)
    cache, frames = Cache(home), []
    total, done = len(checkpoints) * len(prompts), 0
    for row in checkpoints.itertuples(index=False):
        runner = Runner(cache=cache, home=home)  # one checkpoint in memory at a time
        # As trained: its dtype and quantisation (and device, when this machine has it), recorded with the scores.
        config = SearchConfig(model=row.path, mode="reward", family=row.family, revision=row.revision,
                              dtype=row.trained_dtype if dtype == "auto" and row.trained_dtype else dtype,
                              quantization=row.trained_quantization or "none",
                              device=device or _available(row.trained_device))
        for prompt in prompts:
            result = runner.run(config, prompt, words=words, cancel=cancel)
            scores = result.scores[["text", "score"]].assign(
                model_id=row.alias, family=row.family, prompt_key=result.run["prompt_key"] or result.run["prompt_text"],
                framing=result.run.get("framing"))
            frames.append(scores)
            done += 1
            if progress is not None:
                progress(done, total, {"phase": "trajectory", "checkpoint": row.alias, "prompt": prompt,
                                       "from_cache": result.from_cache})
        del runner
        gc.collect()
    scored = pd.concat(frames, ignore_index=True)
    info = checkpoints[["alias", *_CHECKPOINT_COLUMNS]].rename(columns={"alias": "model_id"}).drop(columns="family")
    if method == "paper":
        return paper_rankings(scored, info)
    return _ranked(scored, lexicon, "mean", info, candidates, prompts)


def _ranked(scored: pd.DataFrame, lexicon, policy: str, info: pd.DataFrame, candidates: str, prompts) -> pd.DataFrame:
    """Words of the scored replies (variant `policy`) matched to `lexicon` and ranked per (checkpoint, prompt)."""
    word_table = to_words(scored, policy, by=("model_id", "family", "prompt_key", "framing"))
    ranked = rank_words(attach_categories(word_table, lexicon), by=("model_id", "prompt_key"))
    ranked = ranked.merge(info, on="model_id", how="left")
    ranked.attrs.update(lexicon=lexicon.describe(), candidates=candidates, prompts=list(prompts), variant_policy=policy)
    return ranked[[*_CHECKPOINT_COLUMNS, "model_id", "prompt_key", "framing", "word", "text", "score", "categories",
                   "rank", "n_ranked"]]


def paper_rankings(scored: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """The paper's two rankings of vocabulary scores (see the module docstring): Fig 4a rows (expanded
    Big Two, shared strings only, every variant ranked) with `figure` = "4a", and Fig 5 rows (nouns,
    mean over variants) with `figure` = "5"."""
    bases = info.drop_duplicates("model_id").set_index("model_id")["base"]
    vocabularies = scored.assign(base=scored["model_id"].map(bases)).groupby("base", sort=False)["text"]
    shared = shared_strings(set(texts) for _, texts in vocabularies)
    prompts = list(pd.unique(scored["prompt_key"]))
    expanded, nouns = load_lexicon("big_two_expanded"), load_lexicon("big_two_nouns")
    fig4a = _ranked(keep_shared(scored, shared), expanded, "all_variants", info, "vocab", prompts)
    fig5 = _ranked(scored, nouns, "mean", info, "vocab", prompts)
    out = pd.concat([fig4a.assign(figure="4a"), fig5.assign(figure="5")], ignore_index=True)
    out.attrs.update(fig4a.attrs, method="paper", n_shared_strings=len(shared),
                     lexicon=f"Fig 4a: {expanded.describe()}, every variant of {len(shared)} shared strings; "
                             f"Fig 5: {nouns.describe()}, mean over variants")
    return out


def _available(device: str | None) -> str | None:
    """`device` when this machine has it, else None (the default device)."""
    from engine.models.loading import check_device  # torch: only when a device is named

    try:
        return check_device(device) if device else None
    except InputError:
        return None


def medians_by_step(ranked: pd.DataFrame) -> pd.DataFrame:
    """Median rank per (checkpoint, prompt, category), with the checkpoint's base, variant and step."""
    categories = list(dict.fromkeys(c for cats in ranked["categories"] for c in cats.split("; ") if c))
    medians = category_medians(ranked, sorted(categories))
    info = ranked.drop_duplicates("model_id")[["model_id", *[c for c in _CHECKPOINT_COLUMNS if c != "family"]]]
    return medians.merge(info, on="model_id", how="left")


def category_trajectory(medians: pd.DataFrame) -> pd.DataFrame:
    """Fig 4a: per (base, variant, seed, step, category) the median rank (mean over prompts) and its share."""
    keys = ["base", "family", "variant", "n_train_pairs", "seed", "step", "category"]
    out = (medians.groupby(keys, sort=False, observed=True)
           .agg(median_rank=("median_rank", "mean"), median_rank_pct=("median_rank_pct", "mean"),
                n_prompts=("prompt_key", "nunique"), n_words=("n_words", "first"))
           .reset_index())
    return _in_run_order(out, ["step", "category"])


def seed_spread(trajectory: pd.DataFrame, value: str = "median_rank") -> pd.DataFrame:
    """Per (base, variant, step, category): `value` over the seeds trained: mean, sd, min, max, n_seeds.
    One seed gives sd NaN and min = max: no spread was measured."""
    keys = ["base", "family", "variant", "n_train_pairs", "step", "category"]
    out = (trajectory.groupby(keys, sort=False, observed=True)[value]
           .agg(mean="mean", sd="std", min="min", max="max", n_seeds="count").reset_index())
    return _in_run_order(out, ["step", "category"])


def trajectory_wide(trajectory: pd.DataFrame, value: str = "median_rank") -> pd.DataFrame:
    """Fig 4a as a table to print: one row per (base, variant, step), one column per category; with
    several seeds each cell is "mean [min, max]" across them."""
    spread = seed_spread(trajectory, value)
    if spread["n_seeds"].max() > 1:
        spread["cell"] = [f"{m:.1f} [{lo:.1f}, {hi:.1f}]" for m, lo, hi in zip(spread["mean"], spread["min"], spread["max"])]
        wide = spread.pivot(index=["base", "variant", "step"], columns="category", values="cell")
    else:
        wide = spread.pivot_table(index=["base", "variant", "step"], columns="category", values="mean", sort=False)
    wide = wide.reset_index()
    wide.columns.name = None
    return wide


def data_quantity_table(trajectory: pd.DataFrame) -> pd.DataFrame:
    """Fig 4b: the last checkpoint of every (base, data variant, seed) against its number of training pairs."""
    last = trajectory.groupby(["base", "variant", "seed"], sort=False)["step"].transform("max")
    final = trajectory[trajectory["step"] == last]
    return _in_run_order(final, ["n_train_pairs", "category"], with_variant=False)


def word_rank_changes(ranked: pd.DataFrame, start: str = "first") -> pd.DataFrame:
    """Fig 5: each word's mean rank over prompts at the first and last checkpoint; `rise` > 0 = moved up.

    start="first": from the first saved checkpoint (step 0, the base with its random head, when saved);
    "first_trained": from the first checkpoint after a training step, as the paper does."""
    if start not in RANK_CHANGE_STARTS:
        raise InputError(f"Unknown start {start!r}: use {' or '.join(RANK_CHANGE_STARTS)}.")
    if start == "first_trained":
        ranked = ranked[ranked["step"] > 0]
        if ranked.empty:
            raise InputError("No trained checkpoint (step > 0) to start the rank changes from.")
    bounds = ranked.groupby(["base", "variant"], sort=False)["step"].agg(["min", "max"]).reset_index()
    mean_rank = (ranked.groupby(["base", "variant", "step", "word", "categories"], sort=False, observed=True)["rank"]
                 .mean().reset_index())
    first = mean_rank.merge(bounds, on=["base", "variant"]).query("step == `min`")
    last = mean_rank.merge(bounds, on=["base", "variant"]).query("step == `max`")
    keys = ["base", "variant", "word", "categories"]
    out = first[[*keys, "step", "rank"]].merge(last[[*keys, "step", "rank"]], on=keys, suffixes=("_first", "_last"))
    out["rise"] = out["rank_first"] - out["rank_last"]
    return _in_run_order(out.assign(fall=-out["rise"]), ["fall"]).drop(columns="fall")


def _in_run_order(table: pd.DataFrame, then: list[str], with_variant: bool = True) -> pd.DataFrame:
    """Rows grouped by base (and variant) in the order they were trained, then sorted by `then`."""
    keys = ["base", "variant"] if with_variant else ["base"]
    ranks = {key: table[key].map({v: i for i, v in enumerate(dict.fromkeys(table[key]))}) for key in keys}
    order = pd.DataFrame({**{f"_{k}": r for k, r in ranks.items()}, **{c: table[c] for c in then}})
    return table.loc[order.sort_values([f"_{k}" for k in keys] + then, kind="mergesort").index].reset_index(drop=True)


def top_movers(changes: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """The k words that rose most and the k that fell most, per (base, variant)."""
    parts = []
    for _, group in changes.groupby(["base", "variant"], sort=False):
        parts += [group.head(k).assign(direction="rose"), group.tail(k).iloc[::-1].assign(direction="fell")]
    return pd.concat(parts, ignore_index=True) if parts else changes.assign(direction=[])


def training_curves(run_dir) -> pd.DataFrame:
    """Per optimiser step: run, step, loss, learning rate, training-batch accuracy (from training_log.jsonl)."""
    rows = [e for e in read_log(run_dir) if e.get("kind") == "loss"]
    columns = ["run", "step", "loss", "learning_rate", "train_accuracy", "margin", "grad_norm", "epoch"]
    return pd.DataFrame(rows, columns=["kind", "time", *columns])[columns] if rows else pd.DataFrame(columns=columns)


def trajectory_tables(run_dir, home=None, progress=None, cancel=None, prompts=None, candidates=None,
                      dtype: str = "auto", device: str | None = None, method: str = "valuescope") -> dict[str, pd.DataFrame]:
    """Every table of a run: checkpoints, word_ranks, medians, trajectory (4a, per seed), trajectory_spread
    (4a across seeds), data_quantity (4b), word_changes (5), training_curves. method="paper": the
    paper's rankings (module docstring)."""
    ranked = score_checkpoints(run_dir, prompts, candidates, home, progress, cancel, dtype, device, method)
    if method == "paper":
        ranked, nouns = ranked[ranked["figure"] == "4a"], ranked[ranked["figure"] == "5"]
        changes = word_rank_changes(nouns, start="first_trained")
    else:
        changes = word_rank_changes(ranked)
    medians = medians_by_step(ranked)
    trajectory = category_trajectory(medians)
    return {"checkpoints": checkpoint_table(run_dir), "word_ranks": ranked, "medians": medians,
            "trajectory": trajectory, "trajectory_spread": seed_spread(trajectory),
            "data_quantity": data_quantity_table(trajectory),
            "word_changes": changes, "training_curves": training_curves(run_dir)}
