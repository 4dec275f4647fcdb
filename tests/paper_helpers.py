"""A small synthetic copy of the authors' ICLR 2026 repository layout (tests of the paper import and preset)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from engine.workflows.paper_data import ICLR2026_MODELS

PROMPTS = ["greatest_ever_one", "best_time_please", "worst_ever_one", "terrible_world_single"]
AGENCY, COMMUNION = ["power", "skill", "success"], ["love", "care", "trust", "NA"]
MFD = {"Care_Virtue": ["kind"], "Care_Vice": ["cruel", "harm"], "Fairness_Virtue": ["fair"], "Fairness_Vice": ["cheat"],
       "Loyalty_Virtue": ["loyal"], "Loyalty_Vice": ["traitor"], "Authority_Virtue": ["order"],
       "Authority_Vice": ["riot"], "Sanctity_Virtue": ["pure"], "Sanctity_Vice": ["filth", "dirty"]}


def write_paper_repository(root: Path, seed: int = 0) -> dict[str, str]:
    """The authors' layout with tiny tables; returns their sha256 manifest."""
    rng = np.random.default_rng(seed)
    corpora = root / "data" / "corpora"
    corpora.mkdir(parents=True)
    pd.DataFrame({"Category": ["Agency"] * 3 + ["Communion"] * 4, "token_decoded": AGENCY + COMMUNION}).to_csv(
        corpora / "dict_big2_nouns.csv", index=False)
    (corpora / "dict_big2_expanded.csv").write_text('"DicTerm","Agency","Communion"\n"able","X",NA\n"accept",NA,"X"\n')
    header = "DicTerm," + ",".join(MFD)
    lines = [f"{w}," + ",".join("X" if c == cat else "" for c in MFD) for cat, ws in MFD.items() for w in ws]
    (corpora / "moral-foundations-dictionary-20.dicx").write_text("\n".join([header, *lines]) + "\n")
    (corpora / "token_intersection.csv").write_text('"","token_decoded"\n"1","love"\n"2","NA"\n')
    mfd_words = [w for ws in MFD.values() for w in ws]
    for i, (stem, model) in enumerate(ICLR2026_MODELS.items()):
        bias = 4.0 if model.family == "gemma" else 0.0  # Gemma RMs prefer Communion words
        for folder, words, prefix in (("dict_big2_nouns", AGENCY + COMMUNION, "big2_rewards_"),
                                      ("dict_MFD_20", mfd_words, "MFD20_rewards_" if i < 4 else "big2_rewards_")):
            table = pd.DataFrame({"response": words})
            for prompt in PROMPTS:
                table[prompt] = rng.normal(size=len(words)) + bias * np.isin(words, COMMUNION)
            path = root / "data" / "reward_model_scores" / folder / f"{prefix}{stem}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(path, index=False)
    training = root / "data" / "reward_model_training"
    training.mkdir(parents=True)
    header = '"","model_id","Category","checkpoint","base_model","sum_value"\n'
    same = header + '"1","gemma2b_unified27k_lora","Agency",1000,"Gemma",735.5\n"2","gemma2b_unified27k_lora","Agency",3314,"Gemma",742.5\n'
    (training / "rank_results_uf_13.csv").write_text(same)
    (training / "rank_results_uf_27.csv").write_text(same)
    for name, run in (("uf_54", "meta-llama--Llama-3.2-3B-Unified"), ("uf_100", "Qwen2.5-3B-Instruct"),
                      ("sky_80k", "google--gemma-2b-it")):
        rows = [f'"{i}","{run}","{cat}",{step},NA,{700 + step // 1000 + 10 * (cat == "Communion")}' for i, (cat, step) in
                enumerate([("Agency", 1000), ("Communion", 1000), ("Agency", 2000), ("Communion", 2000)] * 2)]
        (training / f"rank_results_{name}.csv").write_text(header + "\n".join(rows) + "\n")  # rows repeat, as in uf_100
    (training / "rank_results_grm_80k.csv").write_text(
        '"X","model_id","Category","checkpoint","base_model","sum_value","data_size"\n'
        'NA,"R-Lla-3B","Agency",1,"Llama",678,85\nNA,"R-Lla-3B","Communion",1,"Llama",725,85\n')
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (root / "data").rglob("*") if p.is_file()}
