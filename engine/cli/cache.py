"""`valuescope cache check` and `cache repair`: what still reads in a damaged cache, and a new file from it."""
from __future__ import annotations

from engine.jobs.diagnosis import check_job_store, set_aside
from engine.jobs.store import DB_NAME as JOBS_DB_NAME
from engine.paths import db_path, home_dir
from engine.store.repair import check_cache, repair_cache


def register(sub) -> None:
    p = sub.add_parser("cache", help="Check the DuckDB cache run by run, or rebuild a damaged one.")
    which = p.add_subparsers(dest="cache_command", required=True)
    c = which.add_parser("check", help="Read every run and its scores; list what reads cleanly and what does not "
                                       "(exit status 1 when something does not). Changes nothing.")
    c.set_defaults(func=cmd_check)
    r = which.add_parser("repair", help="Copy every run that reads cleanly, with its scores, into a new cache file; "
                                        "keep the damaged file beside it as valuescope.duckdb.damaged-<timestamp>.")
    r.set_defaults(func=cmd_repair)


def _print_check(check) -> None:
    print(f"cache: {check.path}")
    if check.problem:
        print(f"unreadable: {check.problem}; no run can be read from it.")
        return
    scores = sum(r.n_scores for r in check.clean)
    print(f"{len(check.runs)} runs: {len(check.clean)} read cleanly ({scores:,} scores), {len(check.lost)} do not.")
    for run in check.lost:
        print(f"  {run.run_id}  {run.model_id or '?'}  {run.status or '?'}: {run.problem}")
    for part in check.damaged_parts:  # holds no run: a rebuilt file has it afresh
        print(f"  damaged, rebuilt by repair: {part}")


def _check_jobs(home) -> str | None:
    """The job store's problem, printed; None when it reads."""
    jobs = home_dir(home) / JOBS_DB_NAME
    problem = check_job_store(jobs)
    if problem:
        print(f"job store: {jobs} is {problem} (it holds no results, only the list of background jobs).")
    return problem


def cmd_check(args) -> int:
    check = check_cache(db_path(args.home))
    _print_check(check)
    jobs_problem = _check_jobs(args.home)
    if check.healthy and not jobs_problem:
        print("Nothing to repair.")
        return 0
    print("`valuescope cache repair` keeps every run that reads cleanly in a new file"
          + (" and starts a new job store." if jobs_problem else "."))
    return 1


def cmd_repair(args) -> int:
    if _check_jobs(args.home):
        kept = set_aside(home_dir(args.home) / JOBS_DB_NAME)
        print(f"started a new, empty job store; the damaged one is kept as {kept}")
    result = repair_cache(db_path(args.home))
    _print_check(result.check)
    if result.damaged_copy is None:
        print("Nothing to repair: every run reads cleanly." if result.check.problem is None else "Nothing to repair.")
        return 0
    name = result.check.path.name
    if result.check.problem:
        print(f"started a new, empty {name}: nothing could be read from the old file.")
    else:
        print(f"kept {len(result.kept)} run(s) in a new {name}; lost {len(result.lost)}"
              + (f": {', '.join(r.run_id for r in result.lost)}" if result.lost else "") + ".")
    print(f"the damaged file is kept as {result.damaged_copy}")
    return 0
