"""A progress bar for long CLI work (tqdm on stderr), one bar per stage (converting, scoring, writing)."""
from __future__ import annotations

import sys

from tqdm import tqdm

# What a stage's progress counts: conversion reports a fraction in thousandths, shown as a percentage.
STAGE_UNITS = {"converting": None, "writing": "row"}


def printable(text: str) -> str:
    """`text` with control characters (escape sequences a prompt may carry) shown escaped, never sent to the terminal."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(text))


class ProgressBar:
    """`bar(done, total)` draws a tqdm bar on stderr once work starts; `bar.stage(name, message)` (the job's
    stage callback) starts the next stage's bar under its own name; `bar.close()` ends the line, so an
    error printed next starts on a line of its own."""

    def __init__(self, label: str, leave: bool = True, unit: str = "cand"):
        self.label, self.leave, self.unit = printable(label)[:60], leave, unit
        self.stage_name: str | None = None
        self._bar = None

    def stage(self, name: str, message: str | None = None) -> None:
        if name != self.stage_name:
            self.close()
            self.stage_name = name

    def __call__(self, done: int, total: int) -> None:
        if not total:  # a stage without a fraction (loading)
            return
        if self._bar is not None and (total != self._bar.total or done < self._bar.n):  # a new stage
            self.close()
        if self._bar is None:
            self._bar = self._open(total)
        self._bar.update(done - self._bar.n)
        if done >= total:
            self.close()

    def _open(self, total: int):
        stage = self.stage_name if self.stage_name in STAGE_UNITS else None
        desc = f"{self.label} ({stage})" if stage else self.label
        unit = STAGE_UNITS[stage] if stage else self.unit
        if unit is None:
            return tqdm(total=total, desc=desc, file=sys.stderr, leave=self.leave,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=self.leave)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def progress_bar(label: str, leave: bool = True, unit: str = "cand") -> ProgressBar:
    return ProgressBar(label, leave, unit)
