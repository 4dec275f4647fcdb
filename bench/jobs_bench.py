"""Job-system figures: how long a status read takes, and the CPU a worker spends against the CPU of
the process polling it once a second (what a page does).

    python bench/jobs_bench.py                       # status reads only (seconds)
    python bench/jobs_bench.py --search smollm2-135m-instruct --lexicon mfd2
        # plus one search job in a worker: stage timeline, worker CPU vs poller CPU. In a fresh data
        # folder (the default: a temporary one) the first use converts the GGUF weights.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

import engine.jobs as jobs  # noqa: E402
from engine.processes import process_started_at  # noqa: E402
from engine.jobs.store import JobStore  # noqa: E402


def timed(call, n: int) -> str:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return f"median {statistics.median(samples):.2f} ms, p99 {samples[int(n * 0.99) - 1]:.2f} ms"


def status_reads(home: str, finished: int, n: int) -> None:
    store, now = JobStore(home), time.time()
    with store.connect(write=True) as con:
        for i in range(finished):
            store.insert(con, id=f"old{i}", kind="search", key=f"k{i}", params="{}", target="m:f", status="done",
                         created_at=now - 1000 + i, finished_at=now - 999 + i, result='{"run_id": "x"}')
        store.insert(con, id="live", kind="search", key="live", params="{}", target="m:f", status="running",
                     pid=os.getpid(), pid_started_at=process_started_at(os.getpid()), foreground=1,
                     created_at=now, heartbeat_at=now + 3600)
    print(f"status reads with {finished} finished jobs and 1 running (liveness checked), {n} calls each:")
    print(f"  get(running job)        {timed(lambda: jobs.get('live', home), n)}")
    print(f"  get(finished job)       {timed(lambda: jobs.get('old7', home), n)}")
    print(f"  latest_for_key(key)     {timed(lambda: jobs.latest_for_key('k7', home), n)}")
    print(f"  list_jobs(limit=50)     {timed(lambda: jobs.list_jobs(limit=50, home=home), n // 10)}")


def search_job(home: str, model: str, lexicon: str | None, poll_s: float) -> None:
    params = {"config": {"model": model, "device": "cpu"}, "prompt": "greatest_ever_one", "lexicon": lexicon}
    me = psutil.Process()
    mine0, wall0 = me.cpu_times(), time.perf_counter()
    job = jobs.submit("search", params, label=model, home=home)
    worker, worker_cpu, last, polls = None, 0.0, None, 0
    while True:
        job = jobs.get(job.id, home)
        polls += 1
        if worker is None and job.pid:
            worker = psutil.Process(job.pid)
        if worker is not None:
            try:
                t = worker.cpu_times()
                worker_cpu = t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                pass  # it has ended; the last sample stands
        shown = (job.status, job.stage, job.message if job.stage != "scoring" else "")
        if shown != last:
            print(f"  {time.perf_counter() - wall0:6.1f} s  {job.status:9s} {job.stage or '':10s} {shown[2]}")
            last = shown
        if job.finished:
            break
        time.sleep(poll_s)
    mine1, wall = me.cpu_times(), time.perf_counter() - wall0
    mine = mine1.user + mine1.system - mine0.user - mine0.system
    print(f"  result: {job.result or job.error}")
    print(f"wall {wall:.1f} s; worker CPU {worker_cpu:.1f} s (to its last sample); this poller "
          f"({polls} get() calls, one per {poll_s} s) CPU {mine:.2f} s = {100 * mine / wall:.2f}% of one core")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", help="data folder (default: a new temporary one)")
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--finished", type=int, default=1000)
    parser.add_argument("--search", metavar="MODEL")
    parser.add_argument("--lexicon")
    parser.add_argument("--poll", type=float, default=1.0)
    args = parser.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="jobs-bench-")
    status_reads(home, args.finished, args.reads)
    if args.search:
        print(f"search job: {args.search}, lexicon {args.lexicon or '(whole vocabulary)'}, data folder {home}")
        search_job(home, args.search, args.lexicon, args.poll)


if __name__ == "__main__":
    main()
