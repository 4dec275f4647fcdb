"""Fig 4b of the ICLR 2026 paper from the authors' published rank tables (`rank_results_*.csv`): each
training run's final checkpoint, Big Two median rank per category, against its data quantity.

The tables hold, per (run model, category, checkpoint), the median rank of the category's words among
the ~1,365 matched vocabulary tokens on `greatest_ever_one` (their R script, Fig 4a method). Rows
repeat in rank_results_uf_100.csv; they are de-duplicated. The base model is read from the run's name
as the authors do (gem/Gem -> Gemma, lam/Lla -> Llama, qwe/Qwe -> Qwen). Final checkpoint = the largest
checkpoint of each run (model) in the table; the off-the-shelf GRM points have checkpoint 1.
By default the authors' "13K" point is left out: its table is a byte-identical copy of the 27K one.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.errors import MissingFileError

FIG4B_DOC = ("final checkpoint of each training run: median rank of the category's words (1 = best) on greatest_ever_one, "
             "from the authors' rank_results tables; data_size in thousands of preference pairs")
_BASES = (("gem", "Gemma"), ("lam", "Llama"), ("lla", "Llama"), ("qwe", "Qwen"))


def base_of(run_name: str) -> str:
    name = run_name.lower()
    return next((base for hint, base in _BASES if hint in name), "unknown")


def fig4b_points(folder, runs: dict[str, tuple], skip: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per (table, run, category) at the run's final checkpoint.

    `runs`: file name -> (data size in thousands, data source, method); `skip`: file names left out.
    Columns: file, data_size, data_source, method, base_model, run, category, checkpoint, median_rank."""
    folder = Path(folder)
    parts = []
    for name, (size, source, method) in runs.items():
        if name in skip:
            continue
        path = folder / name
        if not path.is_file():
            raise MissingFileError(f"No {path}: import the paper's data first (valuescope import --paper iclr2026).")
        table = pd.read_csv(path)[["model_id", "Category", "checkpoint", "sum_value"]].drop_duplicates()
        final = table[table["checkpoint"] == table.groupby("model_id")["checkpoint"].transform("max")]
        parts.append(pd.DataFrame({
            "file": name, "data_size": size, "data_source": source, "method": method,
            "base_model": final["model_id"].map(base_of), "run": final["model_id"], "category": final["Category"],
            "checkpoint": final["checkpoint"], "median_rank": final["sum_value"]}))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["base_model", "data_size", "category"], kind="mergesort").reset_index(drop=True)
