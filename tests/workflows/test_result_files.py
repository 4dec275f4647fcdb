"""Results cross the process boundary as Parquet and JSON: a worker's implicit result reads back whole,
dtypes included, and no engine or app module pickles anything."""
from __future__ import annotations

import ast
import json
from dataclasses import fields
from pathlib import Path

import pandas as pd

import engine.jobs as jobs
from engine.analysis.lexicons import load_lexicon
from engine.configs import SearchConfig
from engine.workflows.implicit import ImplicitResult, is_saved_result, load_result, run_implicit
from engine.workflows.requests import ImplicitRequest
from engine.workflows.runner import Runner

ROOT = Path(__file__).resolve().parents[2]


def test_a_workers_implicit_result_reads_back_whole_with_its_dtypes(tiny_llama_dir, tiny_gemma_dir):
    base = SearchConfig(device="cpu")
    request = ImplicitRequest(((str(tiny_llama_dir), str(tiny_gemma_dir)),), ("greatest_ever_one",),
                              (("chat", "chat"),), "big_two_nouns", ("love", "freedom"), True, base, 0, 99)
    job = jobs.wait(jobs.submit("implicit", request.to_params(), key=request.job_key()).id, 240)
    assert job.status == "done", (job.error, Path(job.log_path).read_text()[-2000:])
    folder = Path(job.result["artifact"])
    assert is_saved_result(folder) and not list(folder.parent.glob("*.pkl"))
    assert {p.suffix for p in folder.iterdir()} == {".parquet", ".json"}
    saved = load_result(folder)
    # the same request in this process, now wholly from the cache, is the reference
    here = run_implicit(Runner(), request.pairs, request.prompts, lexicon=load_lexicon("big_two_nouns"),
                        words=request.words, vocab=True, templates=request.templates, base=base, seed=0, resamples=99)
    assert here.runs["from_cache"].all()
    for f in fields(ImplicitResult):
        mine, theirs = getattr(saved, f.name), getattr(here, f.name)
        if isinstance(theirs, pd.DataFrame):
            ignore = ["from_cache", "seconds"] if f.name == "runs" else []
            pd.testing.assert_frame_equal(mine.drop(columns=ignore), theirs.drop(columns=ignore), check_dtype=True)
            assert len(theirs) > 0, f.name
            # attrs (n_tested, join_rule, ...) travel as JSON: a tuple comes back as a list
            assert json.dumps(mine.attrs, sort_keys=True) == json.dumps(theirs.attrs, sort_keys=True), f.name
        elif f.name == "lexicon":
            assert mine.as_dict() == theirs.as_dict() and mine.describe() == theirs.describe()
            assert mine.categories_of("love") == theirs.categories_of("love")
        elif f.name != "seconds":
            assert mine == theirs, f.name
    assert saved.vocab["word"].dtype == here.vocab["word"].dtype and saved.runs["from_cache"].dtype == bool


def test_a_half_written_result_is_not_taken_for_one(tmp_path):
    assert not is_saved_result("") and not is_saved_result(tmp_path / "nothing")
    (tmp_path / "half.implicit").mkdir()
    (tmp_path / "half.implicit" / "pairs.parquet").write_bytes(b"")
    assert not is_saved_result(tmp_path / "half.implicit")


PICKLING_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "joblib", "shelve", "marshal"}
PICKLING_CALLS = {"to_pickle", "read_pickle"}


def test_no_engine_or_app_module_pickles_anything():
    """The one use of the pickle module allowed is naming the exception torch raises for a refused weights file."""
    found = []
    for path in sorted([*(ROOT / "engine").rglob("*.py"), *(ROOT / "app").rglob("*.py")]):
        tree = ast.parse(path.read_text())
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [f"{where}:{node.lineno} import {a.name}" for a in node.names
                          if a.name.split(".")[0] in PICKLING_MODULES - {"pickle"}]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PICKLING_MODULES:
                found.append(f"{where}:{node.lineno} from {node.module} import ...")
            elif isinstance(node, ast.Attribute):
                if isinstance(node.value, ast.Name) and node.value.id == "pickle" and node.attr != "UnpicklingError":
                    found.append(f"{where}:{node.lineno} pickle.{node.attr}")
                elif node.attr in PICKLING_CALLS:
                    found.append(f"{where}:{node.lineno} .{node.attr}")
    assert not found, found
