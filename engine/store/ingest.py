"""The single writer for runs computed elsewhere (sweep workers, Ray actors): staged Parquet into DuckDB.

DuckDB lets one process write a file at a time, so workers never open the cache to write. Each
finished run is staged as one Parquet file named by its request key: the scores as columns and the
runs row as JSON in the file's metadata, written to a temporary name and renamed, so a killed
worker leaves no partial file. One process (the sweep's driver) imports the staged files, one
transaction per run, skipping a request key the cache already holds as done (so a re-run or a task
computed twice never adds a duplicate), and removes each file once it is in the cache.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.store.db import Cache
from engine.store.records import RunRecord, score_frame

RUN_METADATA = b"valuescope_run"


def staged_path(folder: str | os.PathLike, request_key: str) -> Path:
    return Path(folder) / f"{request_key}.parquet"


def run_to_parquet(record: RunRecord, scores: pd.DataFrame) -> bytes:
    """One run as Parquet bytes: its scores, and its runs row in the file's metadata."""
    table = pa.Table.from_pandas(score_frame(scores), preserve_index=False)
    row = dict(zip(record.__dataclass_fields__, record.values()))
    table = table.replace_schema_metadata({RUN_METADATA: json.dumps(row, default=str).encode()})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def stage_bytes(folder: str | os.PathLike, request_key: str, data: bytes) -> Path:
    """Write one staged run atomically (temporary name, then rename)."""
    path = staged_path(folder, request_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def stage_run(folder, record: RunRecord, scores: pd.DataFrame) -> Path:
    return stage_bytes(folder, record.request_key, run_to_parquet(record, scores))


def read_staged(path: Path) -> tuple[dict, pd.DataFrame]:
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[RUN_METADATA])
    return meta, table.to_pandas()


@dataclass
class IngestReport:
    imported: list[str]  # request keys written to the cache
    already_cached: list[str]  # request keys the cache held already (file removed, nothing added)


def ingest_staged(cache: Cache, folder: str | os.PathLike) -> IngestReport:
    """Import every staged run in `folder` into `cache` (the only process that writes it)."""
    report = IngestReport([], [])
    folder = Path(folder)
    if not folder.is_dir():
        return report
    for path in sorted(folder.glob("*.parquet")):
        meta, scores = read_staged(path)
        key = meta["request_key"]
        if cache.find_done(key) is not None:
            report.already_cached.append(key)
        else:
            cache.save_runs([(RunRecord.from_meta(meta), scores)])
            report.imported.append(key)
        path.unlink()
    return report
