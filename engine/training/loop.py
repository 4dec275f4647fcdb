"""One training run (one base x one data variant) with TRL's RewardTrainer, and the callback that
saves, evaluates and reports checkpoints: the TRL RewardConfig it trains with and the held-out preference
metrics. The method is described in engine/training/trainer.py."""
from __future__ import annotations

import dataclasses
import gc
import time
from pathlib import Path

import peft
import torch
import transformers
import trl
from datasets import Dataset
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import PrinterCallback, TrainerCallback, set_seed
from trl import RewardConfig, RewardTrainer
from trl.trainer.reward_trainer import DataCollatorForPreference

from engine import __version__
from engine.errors import Cancelled, InputError
from engine.models.loading import default_device, load_model, pin_template_date
from engine.models.registry import resolve_spec
from engine.models.trained import register_checkpoint, trained_dir
from engine.training.checkpoints import checkpoint_steps, save_checkpoint
from engine.training.config import TrainConfig, describe
from engine.training.formatting import ADDED_PAD, ensure_pad_token


def is_stop(exc: BaseException) -> bool:
    """A stop the user asked for (Ctrl-C twice, a job's cancel enforced by SIGTERM), not a failure."""
    return isinstance(exc, (KeyboardInterrupt, Cancelled))


# TrainConfig fields that are RewardConfig fields of the same name and meaning, passed through (max_steps, seed
# and max_length with the translations below).
REWARD_CONFIG_FIELDS = tuple(sorted({f.name for f in dataclasses.fields(TrainConfig)} &
                                    {f.name for f in dataclasses.fields(RewardConfig) if f.init}))


def build_reward_config(config: TrainConfig, output_dir: Path, device: str, bf16: bool, seed: int | None = None):
    """TRL RewardConfig from TrainConfig (same field names); `trainer_args` passes any other RewardConfig field."""
    known = {f.name for f in dataclasses.fields(RewardConfig)}
    unknown = sorted(set(config.trainer_args) - known)
    if unknown:
        raise InputError(f"trainer_args: {', '.join(unknown)} is not a RewardConfig/TrainingArguments option.")
    seed = config.seed if seed is None else seed
    settings = dict(
        {name: getattr(config, name) for name in REWARD_CONFIG_FIELDS},
        output_dir=str(output_dir), seed=seed, data_seed=seed,
        max_steps=config.max_steps or -1,  # 0 = all epochs (TRL: -1)
        warmup_steps=config.warmup_ratio,  # transformers 5 reads a value below 1 as a ratio
        bf16=bf16, fp16=False,
        max_length=None,  # lengths were counted (and pairs dropped) for every base at once
        disable_dropout=False,  # TRL would zero every dropout, LoRA's included; the bases have none of their own
        logging_steps=1, save_strategy="no", eval_strategy="no", report_to="none", disable_tqdm=True,
        use_cpu=device == "cpu", dataloader_num_workers=0,
    )
    return RewardConfig(**{**settings, **config.trainer_args})


def build_lora_config(config: TrainConfig) -> LoraConfig:
    """PEFT LoraConfig from TRL ModelConfig's lora_* fields: adapters on `lora_target_modules`; the score head
    is trained in full (PEFT's SEQ_CLS task saves it beside the adapter)."""
    return LoraConfig(task_type="SEQ_CLS", r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=list(config.lora_target_modules))


def preference_metrics(model, columns: dict, pad_token_id: int, batch_pairs: int = 8) -> dict:
    """Held-out accuracy (r_chosen > r_rejected), mean loss -log sigmoid(margin) and mean margin."""
    collate = DataCollatorForPreference(pad_token_id=pad_token_id)
    # Similar lengths batched together: far less padding; the metrics do not depend on the order.
    pairs = sorted(zip(columns["chosen_ids"], columns["rejected_ids"]), key=lambda p: max(len(p[0]), len(p[1])))
    if not pairs:
        return {"accuracy": None, "loss": None, "margin": None, "n_pairs": 0}
    device = next(p.device for p in model.parameters())
    # Without the mixed-precision autocast accelerate wraps around forward while training: the weights
    # as saved, computed the way the engine scores the checkpoint later (engine/models/loading.py).
    forward = getattr(model, "_original_forward", model.forward)
    margins = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(pairs), batch_pairs):
            chunk = [{"chosen_ids": c, "rejected_ids": r} for c, r in pairs[start:start + batch_pairs]]
            batch = {k: v.to(device) for k, v in collate(chunk).items()}
            rewards = forward(**batch, use_cache=False).logits.squeeze(-1).float()
            chosen, rejected = rewards.chunk(2)
            margins.append(chosen - rejected)
    model.train(was_training)
    margin = torch.cat(margins)
    return {"accuracy": (margin > 0).float().mean().item(), "loss": -torch.nn.functional.logsigmoid(margin).mean().item(),
            "margin": margin.mean().item(), "n_pairs": len(pairs)}


class _Checkpointer:
    """Evaluates the model on the held-out pairs and saves one checkpoint with its manifest."""

    def __init__(self, run, config, data, run_dir: Path, run_name: str, log, tokenizer, trained_as: dict, home=None):
        self.run, self.config, self.log, self.pad_token_id = run, config, log, tokenizer.pad_token_id
        # How the reward was read: the pad token (added or the vocabulary's own) and the BOS count.
        self.pad = {"pad_token": tokenizer.pad_token, "pad_token_id": tokenizer.pad_token_id,
                    "pad_added": tokenizer.pad_token == ADDED_PAD}
        self.trained_as = trained_as  # how to score it as it was trained (engine/models/loading.py)
        self.run_dir, self.run_name, self.home = run_dir, run_name, home
        self.data = data
        self.eval_columns = data.encoder.columns(data.held_out, run.base)  # never swapped: the real labels
        self.template = data.encoder.templates[run.base]
        self.total_steps = 0

    def save(self, step: int, model, train_loss: float | None) -> dict:
        metrics = preference_metrics(model, self.eval_columns, self.pad_token_id, 2 * self.config.per_device_train_batch_size)
        run = self.run
        manifest = {
            "alias": f"rm-{self.run_name}-{run.key.replace('/', '-')}-step{step}", "kind": "reward_model",
            "family": run.family, "base": run.base, "base_index": run.base_index, "variant": run.variant,
            "variant_index": run.variant_index, "n_train_pairs": run.n_train_pairs, "step": step,
            "total_steps": self.total_steps, "run_name": self.run_name, "run_key": run.key, "template": self.template,
            "seed": run.seed, "swapped": data_variant_swapped(self.data, run),
            "eval": metrics, "train_loss": train_loss, **self.pad, "trained_as": self.trained_as, "settings": describe(self.config),
            "versions": _versions(),
        }
        folder = self.run_dir / run.key / f"step-{step:06d}"
        manifest = save_checkpoint(model, folder, manifest)
        # listed at once by every model list, under its path in <home>/trained/ (a run elsewhere is linked there)
        register_checkpoint(trained_dir(self.home) / self.run_name / folder.relative_to(self.run_dir), manifest, self.home)
        entry = {**manifest, "path": str(folder)}
        run.checkpoints.append(entry)
        self.log.checkpoint(run.key, {"step": step, "alias": manifest["alias"], "path": str(folder),
                                      "eval": metrics, "train_loss": train_loss})
        return entry


def data_variant_swapped(data, run) -> bool:
    return data.variants[run.variant_index].swapped


def _adapter_dtype(model) -> str:
    """The dtype the LoRA weights train in."""
    for name, param in model.named_parameters():
        if "lora_" in name:
            return str(param.dtype).replace("torch.", "")
    return "none"


def _versions() -> dict:
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
    started = time.perf_counter()
    run.status = "running"
    device = config.device or default_device()
    try:
        # auto on a CPU may mean bfloat16-mixed for searches (engine.models.precision); training keeps float32 there
        dtype = "float32" if config.dtype == "auto" and device == "cpu" else config.dtype
        lm = load_model(resolve_spec(run.base), mode="reward", dtype=dtype, quantization=config.quantization,
                        device=device, home=home, head_seed=run.seed)
        model, tokenizer = lm.model, lm.tokenizer
        if ensure_pad_token(tokenizer):  # "[PAD]" added: its embedding row is never read (right padding)
            model.resize_token_embeddings(len(tokenizer))
        model.config.pad_token_id = tokenizer.pad_token_id
        if config.quantization == "4bit":
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
        pin_template_date(tokenizer, config.template_date)
        lora = build_lora_config(config)
        set_seed(run.seed)  # the LoRA init: TRL seeds only once the model is built
        # adapter_dtype "base": the LoRA in the base's dtype, as PEFT 0.10 cast it (PEFT >= 0.12 upcasts to fp32)
        model = get_peft_model(model, lora, autocast_adapter_dtype=config.adapter_dtype == "float32")
        args = build_reward_config(config, run_dir / ".trainer", device, bf16=lm.dtype == "bfloat16", seed=run.seed)
        trained_as = {"device": device, "dtype": lm.dtype, "quantization": config.quantization,
                      "adapter_dtype": _adapter_dtype(model), "seed": run.seed}
        checkpointer = _Checkpointer(run, config, data, run_dir, run_name, log, tokenizer, trained_as, home)
        context = {"phase": "train", "run": run.key, "base": run.base, "variant": run.variant,
                   "run_index": position[0], "n_runs": position[1]}
        callback = CheckpointCallback(checkpointer, config.checkpoint_every, log, progress, cancel, context)
        variant = data.variants[run.variant_index]
        train_set = Dataset.from_dict(data.encoder.columns(variant.train, run.base, swapped=variant.swapped))
        trainer = RewardTrainer(model=model, args=args, train_dataset=train_set, processing_class=tokenizer,
                                callbacks=[callback])
        trained_as["adapter_dtype"] = _adapter_dtype(trainer.model)  # TRL casts a QLoRA adapter to bf16
        trainer.remove_callback(PrinterCallback)  # it prints every log dict; progress() reports instead
        trainer.train()
        run.total_steps, run.steps_done = trainer.state.max_steps, trainer.state.global_step
        run.status = "stopped" if callback.stopped and run.steps_done < run.total_steps else "done"
    except BaseException as exc:
        run.status = "stopped" if is_stop(exc) else "failed"
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
