"""One training run (one base x one data variant) with TRL's RewardTrainer, and the callback that
saves, evaluates and reports checkpoints. The method is described in engine/training/trainer.py."""
from __future__ import annotations

import gc
import time
from pathlib import Path

import torch
from transformers import PrinterCallback, TrainerCallback

from engine import __version__
from engine.train_config import describe
from engine.training.checkpoints import checkpoint_steps, save_checkpoint
from engine.training.formatting import ensure_pad_token
from engine.training.trainer import build_reward_config, preference_metrics


class _Checkpointer:
    """Evaluates the model on the held-out pairs and saves one checkpoint with its manifest."""

    def __init__(self, run, config, data, run_dir: Path, run_name: str, log, pad_token_id: int):
        self.run, self.config, self.log, self.pad_token_id = run, config, log, pad_token_id
        self.run_dir, self.run_name = run_dir, run_name
        self.eval_columns = data.encoder.columns(data.held_out, run.base)
        self.template = data.encoder.templates[run.base]
        self.total_steps = 0

    def save(self, step: int, model, train_loss: float | None) -> dict:
        metrics = preference_metrics(model, self.eval_columns, self.pad_token_id, 2 * self.config.per_device_batch)
        run = self.run
        manifest = {
            "alias": f"rm-{self.run_name}-{run.key.replace('/', '-')}-step{step}", "kind": "reward_model",
            "family": run.family, "base": run.base, "base_index": run.base_index, "variant": run.variant,
            "variant_index": run.variant_index, "n_train_pairs": run.n_train_pairs, "step": step,
            "total_steps": self.total_steps, "run_name": self.run_name, "run_key": run.key, "template": self.template,
            "eval": metrics, "train_loss": train_loss, "settings": describe(self.config),
            "versions": _versions(),
        }
        folder = self.run_dir / run.key / f"step-{step:06d}"
        manifest = save_checkpoint(model, folder, manifest)
        entry = {**manifest, "path": str(folder)}
        run.checkpoints.append(entry)
        self.log.checkpoint(run.key, {"step": step, "alias": manifest["alias"], "path": str(folder),
                                      "eval": metrics, "train_loss": train_loss})
        return entry


def _versions() -> dict:
    import peft
    import transformers
    import trl

    return {"valuescope": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "trl": trl.__version__, "peft": peft.__version__}


class CheckpointCallback(TrainerCallback):
    """Step 0 at train begin; then after each logged step: loss to the log, checkpoints on schedule,
    progress; cancellation checked after every optimiser step."""

    def __init__(self, checkpointer: _Checkpointer, every: int, log, progress, cancel, context: dict):
        self.checkpointer, self.every, self.log = checkpointer, every, log
        self.progress, self.cancel, self.context = progress, cancel, context
        self.schedule: set[int] = set()
        self.stopped = False

    def _report(self, step: int, total: int, metrics: dict) -> None:
        if self.progress is not None:
            self.progress(step, total, {**self.context, **metrics})

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.schedule = set(checkpoint_steps(state.max_steps, self.every))
        self.checkpointer.total_steps = state.max_steps
        entry = self.checkpointer.save(0, model, None)  # the base with its seeded head: where the trajectory starts
        self._report(0, state.max_steps, {"checkpoint": entry["alias"], "eval_accuracy": entry["eval"]["accuracy"],
                                          "eval_loss": entry["eval"]["loss"]})

    def on_step_end(self, args, state, control, **kwargs):
        if self.cancel is not None and self.cancel():
            control.should_training_stop = True
            self.stopped = True

    def on_log(self, args, state, control, logs=None, model=None, **kwargs):
        if not logs or "loss" not in logs:
            return  # the final summary log (train_runtime etc.) has no step loss
        step = state.global_step
        metrics = {k: logs.get(k) for k in ("loss", "learning_rate", "grad_norm", "accuracy", "margin", "epoch")}
        metrics["train_accuracy"] = metrics.pop("accuracy")
        self.log.event("loss", run=self.checkpointer.run.key, step=step, **metrics)
        if step in self.schedule and step > 0:
            entry = self.checkpointer.save(step, model, logs["loss"])
            metrics.update(checkpoint=entry["alias"], eval_accuracy=entry["eval"]["accuracy"],
                           eval_loss=entry["eval"]["loss"])
        self.checkpointer.run.steps_done = step
        self._report(step, state.max_steps, metrics)


def train_one(run, config, data, run_dir: Path, run_name: str, home, log, progress, cancel,
              position: tuple[int, int]) -> None:
    """Train `run` (a TrainingRun) in place: status, steps, seconds and checkpoints are filled in."""
    from datasets import Dataset
    from peft import LoraConfig, prepare_model_for_kbit_training
    from trl import RewardTrainer

    from engine.models.loading import default_device, load_model
    from engine.models.registry import resolve_spec

    started = time.perf_counter()
    run.status = "running"
    device = config.device or default_device()
    try:
        # auto on a CPU may mean bfloat16-mixed for searches (engine.models.precision); training keeps float32 there
        dtype = "float32" if config.dtype == "auto" and device == "cpu" else config.dtype
        lm = load_model(resolve_spec(run.base), mode="reward", dtype=dtype, quantization=config.quantization,
                        device=device, home=home, head_seed=config.seed)
        model, tokenizer = lm.model, lm.tokenizer
        ensure_pad_token(tokenizer)
        model.config.pad_token_id = tokenizer.pad_token_id
        if config.quantization == "4bit":
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
        lora = LoraConfig(task_type="SEQ_CLS", r=config.lora_r, lora_alpha=config.lora_alpha,
                          lora_dropout=config.lora_dropout, target_modules=list(config.target_modules))
        args = build_reward_config(config, run_dir / ".trainer", device, bf16=lm.dtype == "bfloat16")
        checkpointer = _Checkpointer(run, config, data, run_dir, run_name, log, tokenizer.pad_token_id)
        context = {"phase": "train", "run": run.key, "base": run.base, "variant": run.variant,
                   "run_index": position[0], "n_runs": position[1]}
        callback = CheckpointCallback(checkpointer, config.checkpoint_every, log, progress, cancel, context)
        train_set = Dataset.from_dict(data.encoder.columns(data.variants[run.variant_index].train, run.base))
        trainer = RewardTrainer(model=model, args=args, train_dataset=train_set, processing_class=tokenizer,
                                peft_config=lora, callbacks=[callback])
        trainer.remove_callback(PrinterCallback)  # it prints every log dict; progress() reports instead
        trainer.train()
        run.total_steps, run.steps_done = trainer.state.max_steps, trainer.state.global_step
        run.status = "stopped" if callback.stopped and run.steps_done < run.total_steps else "done"
    except BaseException as exc:
        run.status = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
        log.run(run.key, status=run.status, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        run.seconds = time.perf_counter() - started
        trainer = model = lm = None  # noqa: F841 (free the weights before the next base loads)
        gc.collect()
        _remove_if_empty(run_dir / ".trainer")  # TRL's output_dir: nothing is saved there (save_strategy "no")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    log.run(run.key, status=run.status, total_steps=run.total_steps, steps_done=run.steps_done,
            seconds=round(run.seconds, 1))


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
