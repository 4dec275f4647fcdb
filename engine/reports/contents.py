"""What each kind of report shows, as `engine.reports.html` blocks: a token search, a family comparison
(the Values page), an implicit-RM comparison and a training run. Each builder takes the tables the result
exports (`analysis_tables`, `implicit.output_tables`, a training run's tables) with their provenance, so a
report built in the app, from a folder of exported tables or from the cache shows the same numbers.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.analysis.implicit import PAIR_COLUMNS
from engine.analysis.words import NORMALIZATION, normalize_series, normalize_token, visible_token
from engine.errors import InputError
from engine.reports import charts
from engine.reports.analysis import OUTPUT_FILES as ANALYSIS_FILES, analysis_tables
from engine.reports.export import FILE_FORMAT_KEY, read_metadata, read_table
from engine.reports.html import Chart, Heading, Report, Table, Text, csv_download
from engine.reports.implicit import OUTPUT_FILES as IMPLICIT_FILES
from engine.reports.tables import ranking_table, run_metadata
from engine.reports.training_charts import accuracy_chart, loss_chart, trajectory_chart

NUMBER = ".4g"
PER_PAIR = list(PAIR_COLUMNS)  # shown once in a pair's heading, not on every row


# ---- token search --------------------------------------------------------------------------------
def word_positions(run: dict, scores: pd.DataFrame, words: list[str]) -> pd.DataFrame:
    """Each chosen word's best-ranked token in one run's ranking (scores best first): rank, token, score, top %."""
    norm = normalize_series(scores["text"])
    rows = []
    for word in words:
        hits = scores[norm == normalize_token(word)]
        row = {"model": run["model_id"], "word": word, "variants": len(hits)}
        if len(hits):
            best = hits.iloc[0]
            row.update(rank=int(best["rank"]), token=visible_token(best["text"]), score=float(best["score"]),
                       top_pct=100 * best["rank"] / len(scores))
        rows.append(row)
    return pd.DataFrame(rows, columns=["model", "word", "rank", "token", "score", "top_pct", "variants"])


def search_report(runs: list[tuple[dict, pd.DataFrame]], words: list[str] | None = None, k: int = 10) -> Report:
    """Top and bottom `k` tokens, the score histogram and where `words` land, per run (scores best first).

    The page holds summaries only, so a 262k-token vocabulary stays small; the full ranking is offered as a
    gzip-compressed CSV when that fits `html.MAX_EMBEDDED_BYTES`, else the page says how to export it."""
    if not runs:
        raise InputError("No runs to report.")
    words = [w for w in (words or []) if w.strip()]
    prompts = list(dict.fromkeys(run.get("prompt_text") or "" for run, _ in runs))
    report = Report(title="Token search: " + ", ".join(dict.fromkeys(run["model_id"] for run, _ in runs)), kind="token search",
                    subtitle=f"Prompt: {' | '.join(prompts)}. Every candidate scored as the entire reply; rank 1 = highest score.",
                    provenance={"runs": [run_metadata(run) for run, _ in runs], "top_k": k, "words": words,
                                "normalization": NORMALIZATION})
    all_positions = []
    for run, scores in runs:
        tag = f"{_slug(run['model_id'])}-{run['run_id'][:8]}"
        report.blocks += [Heading(f"{run['model_id']} · {run.get('prompt_key') or run.get('prompt_text')}"),
                          Text(_settings_line(run, len(scores)))]
        if str(run.get("head_status") or "").startswith("untrained"):
            report.blocks.append(Text(f"Note: the reward head is {run['head_status']}: these rewards test the pipeline, "
                                      "not a trained reward model."))
        for end, part in (("top", scores.head(k)), ("bottom", scores.tail(k).iloc[::-1])):
            shown = part.assign(token=part["text"].map(visible_token))[["rank", "token", "score"]]
            report.blocks.append(Table(f"{end}-{tag}", f"{end.capitalize()} {k}", shown, formats={"score": ".4f"},
                                       caption="␣ marks a space, ↵ a newline, \\xNN a control character."))
        positions = word_positions(run, scores, words) if words else None
        if positions is not None:
            all_positions.append(positions)
        bins = charts.histogram_bins(scores["score"])
        report.blocks.append(Chart(f"histogram-{tag}", "Score distribution over the candidates",
                                   charts.score_histogram(bins, positions, run.get("score_kind") or "score"), bins,
                                   caption=f"{len(scores):,} candidates in 50 bins" + (
                                       "; red lines: the chosen words (hover for details)" if words else "")))
        full = csv_download(f"ranking-{tag}", ranking_table(run, scores), "full ranking")
        if full.data is None:
            full.note += f"; `valuescope export {run['run_id']} --out ranking.parquet` writes it"
        report.blocks.append(full)
    if all_positions:
        positions = pd.concat(all_positions, ignore_index=True)
        report.blocks += [Heading("Where the chosen words land"),
                          Text(f"Best-ranked token of each word in each ranking (rank 1 = best). Normalisation: {NORMALIZATION}.")]
        if positions["rank"].notna().any():
            report.blocks.append(Chart("word-positions", "Rank of the chosen words",
                                       charts.word_positions_chart(positions, words), positions))
        report.blocks.append(Table("word-positions-table", "Word positions", positions,
                                   formats={"score": ".4f", "top_pct": ".3f", "rank": ",.0f"}))
    return report


def _settings_line(run: dict, n: int) -> str:
    keys = ("model_source", "revision", "score_kind", "template", "dtype", "quantization", "vocab_filter", "run_id")
    return f"{n:,} candidates ({run.get('candidates')}) · " + " · ".join(f"{k} {run.get(k)}" for k in keys if run.get(k))


def _slug(text: str) -> str:
    """File-name-safe text; the end of a long one (a local model path ends with the model's folder)."""
    return "".join(c if c.isalnum() else "-" for c in str(text)).strip("-")[-40:].strip("-") or "x"


# ---- family comparison (the Values page) ---------------------------------------------------------
def category_means(medians: pd.DataFrame) -> pd.DataFrame:
    """Per (model, framing): the mean over prompts of each category's median rank (one column per category)."""
    data = medians.assign(framing=medians["framing"].fillna("no framing"))
    return (data.groupby(["model_id", "family", "framing", "category"], sort=False, dropna=False)["median_rank"]
            .mean().unstack("category").reset_index())


def words_by_framing(word_ranks: pd.DataFrame, group: str = "model_id") -> pd.DataFrame:
    """Each word's rank averaged over the prompts of a framing, once per category it belongs to."""
    ranks = word_ranks.assign(framing=word_ranks["framing"].fillna("no framing"))
    return (ranks.assign(category=ranks["categories"].astype(str).str.split("; ")).explode("category")
            .groupby([group, "framing", "category", "word"], sort=False, observed=True)
            .agg(rank=("rank", "mean"), n_prompts=("prompt_key", "nunique")).reset_index())


SHOWN_ANALYSIS_TABLES = ("median_ranks", "family_summary", "mixed_model", "kendall_tau_summary", "top_bottom_words")


def values_report(tables: dict[str, tuple[pd.DataFrame, dict]], meta: dict) -> Report:
    """The Values page as a report: median ranks (Fig 1), words, family comparison, agreement, top/bottom words.

    `tables`: stem -> (table, its own provenance) as `engine.reports.analysis.analysis_tables` returns them;
    `meta`: the analysis's provenance. Every column of the family summary is shown (an interval column added
    to it appears without change here), and every other table of the result under "More tables"."""
    medians = tables["median_ranks"][0]
    medians = medians.assign(framing=medians["framing"].fillna("no framing"))
    categories = list(meta.get("lexicon_categories") or dict.fromkeys(medians["category"]))
    report = Report(title="Values: " + ", ".join(dict.fromkeys(medians["model_id"])), kind="family comparison",
                    subtitle=f"Lexicon {meta.get('lexicon', '?')} · variants {meta.get('variant_policy', '?')} · "
                             f"{medians['prompt_key'].nunique()} prompts. {meta.get('ranks', '')}",
                    provenance=meta)
    report.blocks += [
        Heading("Median rank by category"),
        Chart("median-ranks", "Median rank of each category's words, per (model, prompt)",
              charts.median_rank_chart(medians, categories), medians,
              caption="One observation per (model, prompt): the median rank of the category's words; split by the "
                      "prompt's framing. Rank 1 = best, at the top."),
        Table("category-means", "Mean over prompts of the median ranks", category_means(medians),
              formats={c: ".2f" for c in categories})]
    report.blocks.append(Table("median-ranks-table", "Median ranks (every model, prompt and category)", medians,
                               formats={"median_rank": ".1f", "median_rank_pct": ".4f"}))
    if "word_ranks" in tables:
        by_word = words_by_framing(tables["word_ranks"][0])
        report.blocks += [Heading("Words by category"),
                          Chart("words-by-category", "Rank of each word, by category",
                                charts.word_strip_chart(by_word, categories), by_word,
                                caption="One point per word: its rank averaged over the prompts of a framing.")]
    report.blocks.append(Heading("Family comparison"))
    if "family_summary" in tables:
        summary, extra = tables["family_summary"]
        report.blocks.append(Table("family-summary", f"Family comparison: {extra.get('compared_families', '')}", summary,
                                   caption=str(extra.get("method", "")), formats=_number_formats(summary)))
        if "mixed_model" in tables:
            mixed, extra = tables["mixed_model"]
            report.blocks.append(Table("mixed-model", "Mixed model", mixed, caption=str(extra.get("method", "")),
                                       formats=_number_formats(mixed)))
    else:
        report.blocks.append(Text("No family comparison: it needs exactly two families. " + str(meta.get("notes", ""))))
    if "kendall_tau_summary" in tables and len(tables["kendall_tau_summary"][0]):
        tau, extra = tables["kendall_tau_summary"]
        cells = charts.tau_cells(tau)
        report.blocks += [Heading("Agreement between models"),
                          Chart("kendall-tau", "Mean Kendall's tau between models", charts.tau_heatmap(cells), cells,
                                caption=str(extra.get("method", ""))),
                          Table("kendall-tau-summary", "Kendall's tau per model pair", tau, formats=_number_formats(tau))]
    if "top_bottom_words" in tables:
        top_bottom, extra = tables["top_bottom_words"]
        report.blocks += [Heading("Top and bottom words"),
                          Table("top-bottom-words", f"Top and bottom {extra.get('k', '')} words per model and framing",
                                top_bottom, formats={"mean_rank": ".1f"})]
    _more_tables(report, tables, SHOWN_ANALYSIS_TABLES, ANALYSIS_FILES)
    return report


def _more_tables(report: Report, tables: dict, shown, descriptions: dict) -> None:
    """Every table of the result not shown above (e.g. one a newer analysis adds), under "More tables"."""
    others = [stem for stem in tables if stem not in shown]
    if others:
        report.blocks.append(Heading("More tables"))
    for stem in others:
        table, extra = tables[stem]
        report.blocks.append(Table(stem.replace("_", "-"), f"{stem}: {descriptions.get(stem, '')}".rstrip(": "), table,
                                   caption=str(extra.get("method", "")), formats=_number_formats(table)))


def analysis_report(result, meta: dict, seed: int, resamples: int, top_k: int) -> Report:
    """`values_report` of a ValueAnalysis (engine.analysis.values) and its provenance."""
    tables = analysis_tables(result, seed, resamples, top_k)
    return values_report({stem: pair for stem, pair in tables.items() if pair[0] is not None}, meta)


def _number_formats(table: pd.DataFrame) -> dict:
    return {c: NUMBER for c in table.columns if pd.api.types.is_float_dtype(table[c])}


# ---- implicit-RM comparison ----------------------------------------------------------------------
SHOWN_IMPLICIT_TABLES = ("pairs", "vocab_top_bottom", "lexicon_top_bottom", "named_comparison", "category_summary",
                         "category_tests")


def implicit_report(tables: dict[str, tuple[pd.DataFrame, dict]], meta: dict) -> Report:
    """Top/bottom words by MWLR, named words and lexicon categories, per model pair (`implicit.output_tables`)."""
    pairs = tables["pairs"][0]
    report = Report(title="Implicit reward model: " + "; ".join(pairs["pair"].astype(str)), kind="implicit-RM comparison",
                    subtitle=f"{meta.get('implicit_rm', '')}. {meta.get('sign', '')}.", provenance=meta)
    report.blocks.append(Table("pairs", "Model pairs", pairs))
    for pair in pairs.itertuples():
        tag = _slug(pair.pair)
        report.blocks.append(Heading(f"A = {pair.model_a}, B = {pair.model_b}"))
        for name, what in (("vocab", "vocabulary words"), ("lexicon", "lexicon words")):
            if f"{name}_top_bottom" not in tables:
                continue
            tb = tables[f"{name}_top_bottom"][0]
            tb = tb[(tb["pair"] == pair.pair) & tb["scope"].isin(["battery mean", "prompt"])]
            for end, label in (("top", f"B favours ({pair.model_b} over {pair.model_a})"),
                               ("bottom", f"A favours ({pair.model_a} over {pair.model_b})")):
                part = tb[tb["end"] == end].drop(columns=[*PER_PAIR, "end"], errors="ignore")
                report.blocks.append(Table(f"{name}-{end}-{tag}", f"{label}: {end} {what} by MWLR", part,
                                           formats=_number_formats(part)))
        if "named_comparison" in tables:
            named = tables["named_comparison"][0]
            named = named[named["pair"] == pair.pair].drop(columns=PER_PAIR, errors="ignore")
            words = list(dict.fromkeys(named["word"]))
            report.blocks += [Chart(f"named-words-{tag}", "Named words: battery-mean MWLR",
                                    charts.named_words_chart(named, pair.model_a, pair.model_b, words), named),
                              Table(f"named-words-table-{tag}", "Named words", named, formats=_number_formats(named))]
        if "category_summary" in tables:
            summary, _ = tables["category_summary"]
            summary = summary[summary["pair"] == pair.pair].drop(columns=PER_PAIR, errors="ignore")
            categories = list(dict.fromkeys(summary["category"]))
            report.blocks += [Chart(f"categories-{tag}", "Mean MWLR per lexicon category",
                                    charts.category_bars(summary, categories), summary, caption=str(meta.get("lexicon", ""))),
                              Table(f"category-summary-{tag}", "Category summary", summary, formats=_number_formats(summary))]
            if "category_tests" in tables:
                tests, extra = tables["category_tests"]
                tests = tests[tests["pair"] == pair.pair].drop(columns=PER_PAIR, errors="ignore")
                report.blocks.append(Table(f"category-tests-{tag}", "Tests between categories", tests,
                                           caption=str(extra.get("method", "")), formats=_number_formats(tests)))
    _more_tables(report, tables, SHOWN_IMPLICIT_TABLES, IMPLICIT_FILES)
    return report


# ---- training run --------------------------------------------------------------------------------
def training_report(tables: dict[str, tuple[pd.DataFrame, dict]], movers: pd.DataFrame | None = None) -> Report:
    """Fig 4a trajectories, held-out accuracy and loss curves, Fig 4b and the words that moved most (Fig 5)."""
    if "trajectory" not in tables:
        raise InputError("This training run's checkpoints are not scored yet: run `valuescope trajectory RUN_DIR` first.")
    meta = {k: v for k, v in tables["trajectory"][1].items() if k not in (FILE_FORMAT_KEY, "table")}
    trajectory = tables["trajectory"][0]
    report = Report(title=f"Training run {meta.get('run') or ''}".strip(), kind="training run", provenance=meta,
                    subtitle=f"Bases: {', '.join(map(str, meta.get('bases') or trajectory['base'].unique()))}. "
                             f"{meta.get('rank', '')}.")
    report.blocks += [Heading("Value trajectories (Fig 4a)"),
                      Chart("trajectory", "Big Two median rank vs training step", trajectory_chart(trajectory), trajectory),
                      Table("trajectory-table", "Median rank per category and step", trajectory,
                            formats=_number_formats(trajectory))]
    checkpoints = tables.get("checkpoints", (None, {}))[0]
    if checkpoints is not None and checkpoints["eval_accuracy"].notna().any():
        report.blocks.append(Chart("held-out-accuracy", "Held-out preference accuracy", accuracy_chart(checkpoints),
                                   checkpoints.dropna(subset=["eval_accuracy"])))
    curves = tables.get("training_curves", (None, {}))[0]
    if curves is not None and len(curves) and curves["loss"].notna().any():
        report.blocks.append(Chart("training-loss", "Training loss", loss_chart(curves).properties(width=560), curves))
    if "data_quantity" in tables and tables["data_quantity"][0]["variant"].nunique() > 1:
        quantity = tables["data_quantity"][0]
        report.blocks.append(Table("data-quantity", "Last checkpoint against the number of training pairs (Fig 4b)",
                                   quantity, formats=_number_formats(quantity)))
    if movers is not None and len(movers):
        report.blocks += [Heading("Words that moved most (Fig 5)"),
                          Table("movers", "Words that rose and fell most from the first to the last checkpoint",
                                movers, formats=_number_formats(movers))]
    if checkpoints is not None:
        report.blocks.append(Table("checkpoints", "Checkpoints", checkpoints.drop(columns=["path"], errors="ignore"),
                                   formats=_number_formats(checkpoints)))
    return report


# ---- folders of exported tables ------------------------------------------------------------------
def read_tables(folder: str | Path) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Every table valuescope wrote in `folder` (CSV with sidecar, or Parquet), by stem, with its provenance."""
    folder = Path(folder)
    found = {}
    for path in sorted([*folder.glob("*.csv"), *folder.glob("*.parquet")]):
        meta = read_metadata(path)
        found.setdefault(path.stem, (read_table(path), {k: v for k, v in meta.items() if k != FILE_FORMAT_KEY}))
    return found


def shared_provenance(tables: dict[str, tuple[pd.DataFrame, dict]], stem: str) -> dict:
    """The provenance all of a result's tables share, taken from one of them (without its own `table` line)."""
    return {k: v for k, v in tables[stem][1].items() if k not in ("table", "method", "k", "top")}
