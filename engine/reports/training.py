"""The tables and charts a training run exports (Figs 4a, 4b and 5 of the ICLR 2026 paper, held-out
accuracy, loss curves), with the run's settings as their provenance."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine import __version__
from engine.reports.export import write_table
from engine.reports.training_charts import accuracy_chart, save_chart, trajectory_chart

TRAINING_TABLES = {
    "checkpoints": "one saved checkpoint: base, data variant, step, alias, held-out accuracy and loss",
    "word_ranks": "one matched Big Two word per (checkpoint, prompt), with its reward and rank (1 = best)",
    "medians": "one (checkpoint, prompt, category): median rank of the category's words",
    "trajectory": "one (base, variant, seed, step, category): median rank, mean over prompts (Fig 4a)",
    "trajectory_spread": "one (base, variant, step, category): the median rank's mean, sd, min and max across seeds",
    "data_quantity": "the last checkpoint of each data variant against its number of training pairs (Fig 4b)",
    "word_changes": "one word per (base, variant): rank at the first and last checkpoint, and its rise (Fig 5)",
    "training_curves": "one optimiser step: loss, learning rate, training-batch accuracy",
}


def trajectory_metadata(summary: dict, tables: dict[str, pd.DataFrame]) -> dict:
    settings = summary.get("settings", {})
    attrs = tables["word_ranks"].attrs
    return {"run": summary.get("run_name"), "data": settings.get("data"), "bases": settings.get("bases"),
            "settings": settings, "candidates": attrs.get("candidates"), "prompts": attrs.get("prompts"),
            "lexicon": attrs.get("lexicon"), "rank": "1 = highest reward among matched words",
            "valuescope_version": __version__}


def write_trajectory_outputs(run_dir: Path, tables: dict[str, pd.DataFrame], summary: dict) -> tuple[list[Path], list[Path]]:
    """Every table to `<run_dir>/tables/<name>.csv` and the two charts beside the run; returns (tables, charts)."""
    meta = trajectory_metadata(summary, tables)
    written = [write_table(table, Path(run_dir) / "tables" / f"{name}.csv",
                           {**meta, "table": f"{name}: {TRAINING_TABLES.get(name, name)}"})
               for name, table in tables.items()]
    charts = [save_chart(trajectory_chart(tables["trajectory"]), Path(run_dir) / "trajectory"),
              save_chart(accuracy_chart(tables["checkpoints"]), Path(run_dir) / "accuracy")]
    return written, charts
