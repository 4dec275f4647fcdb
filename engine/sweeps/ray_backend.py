"""Sweeps on Ray (optional extra: pip install valuescope[ray]): one actor per GPU, or per CPU slot.

Each actor is a TaskWorker holding its model; the driver hands it the next task of the same model
when there is one (no reload), else any task. An actor returns each run as Parquet bytes through
Ray's object store, so workers on other machines need no shared disk; the driver stages and
imports them. An actor that dies (killed, out of memory, node lost) fails only the task it held;
it is replaced and the sweep goes on. Without --address a local Ray instance is started (no
dashboard) with one CPU per actor slot.
"""
from __future__ import annotations

import os
from collections import deque

from engine.errors import InputError
from engine.store.ingest import stage_bytes
from engine.sweeps.tasks import TaskWorker


class SweepActor:
    """The Ray actor: a TaskWorker with its torch threads set to the CPUs it was given."""

    def __init__(self, home, threads: int | None):
        if threads:
            import torch  # torch: only inside the actor's process

            torch.set_num_threads(threads)
        self.worker = TaskWorker(home)

    def pid(self) -> int:
        return os.getpid()

    def run(self, task) -> list[tuple[str, bytes]]:
        return list(self.worker.run(task))


def _ray():
    try:
        import ray  # Ray is an optional extra
    except ImportError as exc:
        raise InputError("--backend ray needs Ray: pip install 'valuescope[ray]' (or pip install ray).") from exc
    return ray


def slots(ray, sweep) -> tuple[int, dict]:
    """(number of actors, resources of each) from the cluster: a GPU each where there are GPUs."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return sweep.actors or gpus, {"num_gpus": 1, "num_cpus": 1}
    cpus = int(resources.get("CPU", 1))
    return sweep.actors or max(1, cpus // sweep.actor_cpus), {"num_cpus": sweep.actor_cpus}


def run_on_ray(tasks: list, sweep, staging, finished, home, on_dispatch=None) -> None:
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        if sweep.address:
            ray.init(address=sweep.address, log_to_driver=False)
        else:
            cpus = (sweep.actors or max(1, (os.cpu_count() or 1) // sweep.actor_cpus)) * sweep.actor_cpus
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        _drive(ray, tasks, sweep, staging, finished, home, on_dispatch)
    finally:
        if started_here:
            ray.shutdown()


def _drive(ray, tasks, sweep, staging, finished, home, on_dispatch) -> None:
    count, resources = slots(ray, sweep)
    threads = None if resources.get("num_gpus") else resources["num_cpus"]
    remote = ray.remote(max_restarts=0, **resources)(SweepActor)
    queue = deque(sorted(tasks, key=lambda t: t.model))
    in_flight = {}  # object ref -> (actor, task)
    pids = {}  # actor -> its process id, for on_dispatch

    def start(actor, last_model=None):
        if not queue:
            return
        same = next((t for t in queue if t.model == last_model), None)  # keep the loaded model busy
        task = same or queue[0]
        queue.remove(task)
        in_flight[actor.run.remote(task)] = (actor, task)
        if on_dispatch is not None:
            on_dispatch({"pid": pids[actor], "task": task.label})

    def new_actor():
        actor = remote.remote(home, threads)
        pids[actor] = ray.get(actor.pid.remote())
        return actor

    for _ in range(min(count, len(queue))):
        start(new_actor())
    while in_flight:
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        actor, task = in_flight.pop(ready[0])
        try:
            runs = ray.get(ready[0])
        except ray.exceptions.RayActorError as exc:  # the worker died: only its task is lost
            finished(task, f"worker lost ({type(exc).__name__})")
            start(new_actor() if queue else None)
            continue
        except ray.exceptions.RayTaskError as exc:  # the task raised; the actor lives on
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            finished(task, f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}")
            start(actor, task.model)
            continue
        for key, data in runs:
            stage_bytes(staging, key, data)
        finished(task, None)
        start(actor, task.model)
