"""Training as an engine job (kind "train"): train every base, then score every checkpoint and write the
run's tables and charts. The app's Training page submits it; its worker process survives page reloads.

params: a TrainRequest (engine/workflows/requests.py: TrainConfig fields) and "trajectory" (default True). Progress: optimiser steps of
the current base while training (stage "training"), then scored (checkpoint, prompt) pairs (stage
"evaluating"). Cancel stops training after the current step; a step still running when the job
system's grace period ends is interrupted (SIGTERM). Either way the run is marked "stopped" (never
"failed"), the checkpoints saved so far stay loadable, and they are NOT scored by the job (scoring
takes minutes, the grace period seconds): `valuescope trajectory RUN_DIR` or the Training page scores
them later, from the cache where it can.
"""
from __future__ import annotations

from engine.reports.training import write_trajectory_outputs
from engine.training.config import TrainConfig
from engine.training.runlog import read_summary
from engine.training.trainer import train_comparison
from engine.training.trajectory import trajectory_tables
from engine.workflows.requests import TrainRequest


def run_training(params: dict, ctx) -> dict:
    config = TrainConfig(**TrainRequest.from_params(params).config)

    def progress(step: int, total: int, metrics: dict) -> None:
        loss = f", loss {metrics['loss']:.4f}" if metrics.get("loss") is not None else ""
        accuracy = metrics.get("eval_accuracy")
        checkpoint = f", held-out accuracy {accuracy:.3f}" if accuracy is not None else ""
        ctx.progress(step, total, f"{metrics.get('run')}: step {step} of {total}{loss}{checkpoint}")

    ctx.stage("training", f"Training {', '.join(config.bases)}")
    result = train_comparison(config, progress=progress, cancel=ctx.cancelled, home=ctx.home,
                              say=lambda line: print(line, flush=True))  # the job's log
    outcome = {"run_name": result.run_name, "run_dir": str(result.run_dir), "status": result.status,
               "runs": [{"key": r.key, "base": r.base, "status": r.status, "steps": r.steps_done,
                         "checkpoints": len(r.checkpoints), "seconds": round(r.seconds, 1)} for r in result.runs]}
    if result.status == "stopped" or ctx.cancelled():
        outcome["note"] = (f"Stopped on request; {sum(len(r.checkpoints) for r in result.runs)} checkpoints kept, not "
                           f"scored: valuescope trajectory {result.run_dir}")
    elif params.get("trajectory", True) and any(r.checkpoints for r in result.runs):
        ctx.stage("evaluating", "Scoring every checkpoint on the Big Two words")

        def scored(done: int, total: int, info: dict) -> None:
            ctx.progress(done, total, f"Scored {done} of {total}: {info.get('checkpoint')} on {info.get('prompt')}")

        tables = trajectory_tables(result.run_dir, home=ctx.home, progress=scored)
        written, charts = write_trajectory_outputs(result.run_dir, tables, read_summary(result.run_dir))
        outcome["tables"] = [str(p) for p in written]
        outcome["charts"] = [str(p) for p in charts]
    return outcome
