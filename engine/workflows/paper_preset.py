"""`valuescope analyze --preset iclr2026`: the paper's Fig 1a and Fig 1b from its published reward-model
scores (imported with `valuescope import --paper iclr2026`), with the paper's statistics.

Each figure is one value analysis (engine/workflows/analyze.py) with the paper's choices, which differ
from valuescope's defaults:
- Fig 1a: the 263 Big Two nouns of the authors' `dict_big2_nouns.csv`, ranked per (model, prompt);
- Fig 1b: the authors' MFD 2.0 `.dicx` with Sanctity_Vice left out (the authors' R pivots only the
  columns Care_Virtue:Sanctity_Virtue, so its 388 words are not ranked) and virtue + vice merged into
  five foundations (1,652 words ranked; 10 panels);
- family test: the parametric Welch p (`--test welch`; the paper's `MKinfer::perm.t.test(...)$p.value`),
  Bonferroni over the panels shown (4 for Fig 1a, 10 for Fig 1b), stars from the corrected p.
Fig 4b comes from the authors' published rank tables (engine/analysis/paper_training.py), without the
"13K" table, which repeats the 27K run (`include_duplicate=True` keeps it, as the paper's figure does).
The figure's numbers per panel: each family's mean of the (model, prompt) median ranks (the black
diamond of the paper's violins), the difference gemma - llama (negative: Gemma ranks the category
higher), p, corrected p and stars.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from engine.analysis.intervals import INTERVAL_DOC, bootstrap_difference
from engine.analysis.paper_stats import STARS_DOC, stars
from engine.analysis.paper_training import fig4b_points
from engine.configs import AnalyzeConfig
from engine.errors import NotFoundError
from engine.workflows.analyze import AnalysisRun, run_analysis
from engine.workflows.paper_data import ICLR2026_DUPLICATE_RUN, ICLR2026_FIG4B_RUNS, ICLR2026_MODELS
from engine.workflows.paper_import import paper_dir

MFD_WITHOUT_SANCTITY_VICE = ["Care_Virtue", "Care_Vice", "Fairness_Virtue", "Fairness_Vice", "Loyalty_Virtue",
                             "Loyalty_Vice", "Authority_Virtue", "Authority_Vice", "Sanctity_Virtue"]


@dataclass(frozen=True)
class PresetFigure:
    name: str
    title: str
    config: AnalyzeConfig


def _models(set_name: str) -> list[str]:
    return [f"{set_name}/{m.short_id}" for m in ICLR2026_MODELS.values()]


PRESETS: dict[str, list[PresetFigure]] = {
    "iclr2026": [
        PresetFigure("Fig 1a", "Big Two nouns (Agency, Communion), the ten reward models, every prompt",
                     AnalyzeConfig(lexicon="iclr2026_big2_nouns", models=_models("big2"), families=["gemma", "llama"],
                                   test="welch")),
        PresetFigure("Fig 1b", "MFD 2.0, five foundations (virtue + vice; Sanctity_Vice left out, as in the paper)",
                     AnalyzeConfig(lexicon="iclr2026_mfd20", models=_models("mfd"), families=["gemma", "llama"],
                                   test="welch", categories=MFD_WITHOUT_SANCTITY_VICE, merge_categories=["prefix"])),
    ],
}
PANEL_COLUMNS = ["framing", "category", "gemma", "llama", "diff", "p_welch", "p_bonferroni", "stars", "n_gemma", "n_llama"]


# An interval of mean(gemma) - mean(llama) from the two families' (model, prompt) values of one panel:
# (a, b) -> (low, high). By default the bootstrap intervals of the value comparison
# (engine.analysis.intervals), seeded with the analysis seed; `intervals_doc` names the method.
IntervalFunction = Callable[[np.ndarray, np.ndarray], tuple[float, float]]


@dataclass
class PresetResult:
    figure: PresetFigure
    analysis: AnalysisRun
    panels: pd.DataFrame  # PANEL_COLUMNS, with ci_low/ci_high beside `diff` when intervals were asked for


def run_preset(cache, preset: str, home=None, seed: int = 0, intervals: IntervalFunction | None = None,
               intervals_doc: str | None = None) -> list[PresetResult]:
    """Every figure of the preset, in order, with the paper's Welch/Bonferroni stars and, beside `diff`, its
    bootstrap interval (or the interval function given). Needs the paper's data imported into this cache."""
    if intervals is None:
        intervals = lambda a, b: bootstrap_difference(a, b, rng=seed)[1:3]  # noqa: E731
        intervals_doc = INTERVAL_DOC.format(confidence=0.95, resamples=9999, seed=seed)
    if preset not in PRESETS:
        raise NotFoundError(f"No preset {preset!r}; known: {', '.join(PRESETS)}.")
    results = []
    for figure in PRESETS[preset]:
        have = set(cache.list_runs(model_id=figure.config.models)["model_id"])
        if not have:
            raise NotFoundError(f"The {preset} data is not in {cache.path}: run "
                                f"`valuescope import --paper {preset} [--from DIR]` first.")
        config = replace(figure.config, seed=seed)
        analysis = run_analysis(cache, config, home=home, tool=f"valuescope analyze --preset {preset}")
        results.append(PresetResult(figure, analysis, preset_panels(analysis, intervals, intervals_doc)))
    return results


def preset_panels(analysis: AnalysisRun, intervals: IntervalFunction | None = None,
                  intervals_doc: str | None = None) -> pd.DataFrame:
    """The figure's panels: family means, diff, Welch p, Bonferroni p, stars (and intervals of diff)."""
    summary = analysis.result.family_summary
    out = summary.assign(stars=[stars(p) for p in summary["p_bonferroni"]])
    out.attrs.update(summary.attrs, stars=STARS_DOC)
    out = out[PANEL_COLUMNS]
    if intervals is not None:
        medians = analysis.result.medians
        bounds = []
        for row in out.itertuples():
            panel = medians[(medians["framing"] == row.framing) & (medians["category"] == row.category)]
            a, b = (panel.loc[panel["family"] == f, "median_rank"].to_numpy(float) for f in ("gemma", "llama"))
            bounds.append(intervals(a, b))
        at = out.columns.get_loc("diff") + 1
        out.insert(at, "ci_low", [lo for lo, _ in bounds])
        out.insert(at + 1, "ci_high", [hi for _, hi in bounds])
        out.attrs["intervals"] = intervals_doc or "interval of diff"
    return out


def preset_fig4b(preset: str, home=None, include_duplicate: bool = False) -> pd.DataFrame | None:
    """Fig 4b from the imported rank tables (None when they were not imported)."""
    folder = paper_dir(home, preset) / "training"
    if preset != "iclr2026" or not folder.is_dir():
        return None
    skip = () if include_duplicate else (ICLR2026_DUPLICATE_RUN,)
    return fig4b_points(folder, ICLR2026_FIG4B_RUNS, skip=skip)
