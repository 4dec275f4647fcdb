"""Train Bradley-Terry reward models from several bases on identical data: TRL RewardTrainer + PEFT LoRA.

Per base model and data variant: the base is loaded through the engine (`load_model`, reward mode:
registry alias -> converted GGUF folder, hub id or local folder) as a one-label sequence
classifier whose score head gets the engine's seeded init (the same procedure and seed for every
base); PEFT `LoraConfig(task_type="SEQ_CLS")` adds LoRA to `lora_target_modules` and trains the score
head in full (modules_to_save); TRL's `RewardTrainer` minimises -log sigmoid(r_chosen - r_rejected)
with AdamW and the configured schedule. The data are pre-tokenised in each base's own template
(engine/training/formatting.py), so TRL applies no template of its own; every base sees the same
pairs in the same order (Trainer sampler seeded with `seed`), with the same hyper-parameters.
With `seeds`, every base is trained once per seed (score head, LoRA init and data order from that
seed; the held-out pairs stay those of `seed`), so the spread across seeds can be read beside any
difference between bases; with `swapped_control`, also on the label-swapped pairs.

Checkpoints (step 0, powers of two, every `checkpoint_every` steps, the last): adapter + score head +
manifest, written atomically (engine/training/checkpoints.py), each with its held-out preference
accuracy (share of held-out pairs with r_chosen > r_rejected; ties count as wrong) and loss, computed
without the training step's mixed-precision autocast, so the engine reproduces them when it loads the
checkpoint as trained (same dtype and quantisation, LoRA unmerged).
`progress(step, total_steps, metrics)` is called after every step; `cancel()` is checked after every
step and stops cleanly (finished checkpoints stay; the run is marked "stopped"). A step interrupted by
a job's enforced cancel (SIGTERM -> Cancelled) or a second Ctrl-C is "stopped" too, never "failed".
"""
from __future__ import annotations

import contextlib
import gc
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.models.loading import load_tokenizer
from engine.models.manifests import find_manifests
from engine.models.registry import resolve_spec
from engine.models.trained import trained_dir
from engine.training.config import TrainConfig, describe, validate
from engine.training.data import load_pairs
from engine.training.loop import is_stop, train_one
from engine.training.prepare import prepare_comparison
from engine.training.runlog import LOG_FILE, SUMMARY_FILE, RunLog

Progress = Callable[[int, int, dict], None]
Cancel = Callable[[], bool]


@dataclass
class TrainingRun:
    """One base model trained on one data variant."""
    key: str  # "<base slug>" or "<base slug>/<variant>"
    base: str
    family: str
    variant: str
    n_train_pairs: int
    base_index: int = 0
    variant_index: int = 0
    seed: int = 0  # score head, LoRA init and data order
    status: str = "pending"  # pending, running, done, stopped, failed
    total_steps: int = 0
    steps_done: int = 0
    seconds: float = 0.0
    checkpoints: list[dict] = field(default_factory=list)  # manifests, plus "path"


@dataclass
class ComparisonResult:
    run_name: str
    run_dir: Path
    status: str  # done, stopped, failed
    runs: list[TrainingRun]
    data: dict  # ComparisonData.report()
    config: TrainConfig


def slug(name: str) -> str:
    """A model name as a folder/alias part: the last path component, other characters as '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(name).rstrip("/").split("/")[-1]).strip("-").lower() or "model"


def run_folder(config: TrainConfig, home=None) -> tuple[str, Path]:
    """(run name, output folder). Runs outside <home>/trained are linked there, so the engine finds them."""
    trained = trained_dir(home)
    out = Path(config.out).expanduser().resolve() if config.out else None
    name = slug(config.run_name or (out.name if out else time.strftime("run-%Y%m%d-%H%M%S")))
    run_dir = out or trained / name
    run_dir.mkdir(parents=True, exist_ok=True)
    link = trained / name
    if link.resolve() != run_dir:
        trained.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        if not link.exists():
            link.symlink_to(run_dir, target_is_directory=True)
    return name, run_dir


def discard_if_empty(run_name: str, run_dir: Path, home=None) -> None:
    """A run that ended before its first checkpoint leaves nothing behind: its record, its folder (when nothing
    else is in it) and its link in trained/, so the pages and aliases list only runs with something in them."""
    if find_manifests(run_dir):
        return
    for name in (SUMMARY_FILE, LOG_FILE):
        (run_dir / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # a folder the user named may hold other files: then it stays
        run_dir.rmdir()
    link = trained_dir(home) / run_name
    if link.is_symlink():  # it pointed at this run, which holds no checkpoint
        link.unlink()


def _tokenizers(config: TrainConfig, home) -> dict[str, tuple[object, str, object]]:
    """base -> (tokenizer, requested template, spec), loaded without the weights."""
    found = {}
    for base in config.bases:
        spec = resolve_spec(base)
        found[base] = (load_tokenizer(spec, home), spec.template, spec)
    return found


def load_eval_pairs(source: str, bad_rows: str):
    """Held-out pairs from `eval_data`: a local file, or "<hub id>:<split>" (e.g. llm-blender/Unified-Feedback:val)."""
    name, _, split = source.rpartition(":")
    if name and split and not Path(source).expanduser().exists() and "/" not in split:
        return load_pairs(name, bad_rows, split=split)
    return load_pairs(source, bad_rows)


def train_comparison(config: TrainConfig, progress: Progress | None = None, cancel: Cancel | None = None,
                     home=None, say: Callable[[str], None] | None = None) -> ComparisonResult:
    """Train every base on every data variant of `config`, one after another; see the module docstring.

    `say` receives one-line notes (data counts, per-run timing) for a log or the console.
    """
    validate(config)
    say = say or (lambda line: None)
    run_name, run_dir = run_folder(config, home)
    log = RunLog(run_dir, run_name, describe(config))
    runs: list[TrainingRun] = []
    try:
        pair_set = load_pairs(config.data, config.bad_rows)
        eval_set = load_eval_pairs(config.eval_data, config.bad_rows) if config.eval_data else None
        tokenizers = _tokenizers(config, home)
        data = prepare_comparison(config, pair_set, {b: (tok, tpl) for b, (tok, tpl, _) in tokenizers.items()},
                                  eval_set)
        log.set(data=data.report())
        for line in data.summary_lines():
            say(line)
        slugs = {base: slug(base) if [slug(b) for b in config.bases].count(slug(base)) == 1 else f"{slug(base)}-{i}"
                 for i, base in enumerate(config.bases)}
        seeds = config.seeds or [config.seed]
        for v_index, variant in enumerate(data.variants):
            for seed in seeds:
                for b_index, base in enumerate(config.bases):
                    key = slugs[base] + (f"/{variant.label}" if len(data.variants) > 1 else "") + \
                        (f"/seed{seed}" if len(seeds) > 1 else "")
                    runs.append(TrainingRun(key, base, tokenizers[base][2].family, variant.label, len(variant.train),
                                            b_index, v_index, seed=seed))
        for number, run in enumerate(runs):
            if cancel is not None and cancel():
                run.status = "stopped"
                break
            log.run(run.key, base=run.base, family=run.family, variant=run.variant, n_train_pairs=run.n_train_pairs,
                    status="running")
            train_one(run, config, data, run_dir, run_name, home, log, progress, cancel, (number, len(runs)))
            say(f"{run.key}: {run.status} after {run.steps_done}/{run.total_steps} steps in {run.seconds:.0f} s; "
                + ", ".join(f"step {c['step']}: acc {c['eval']['accuracy']:.3f}" for c in run.checkpoints
                            if c["eval"]["accuracy"] is not None))
            gc.collect()
            if run.status == "stopped":
                break
        status = "stopped" if any(r.status in ("stopped", "pending") for r in runs) else "done"
        log.finish(status)
    except BaseException as exc:
        log.finish("stopped" if is_stop(exc) else "failed", f"{type(exc).__name__}: {exc}")
        discard_if_empty(run_name, run_dir, home)
        raise
    return ComparisonResult(run_name, run_dir, status, runs, log.summary["data"], config)
