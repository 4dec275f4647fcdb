"""Reward-model training (engine side of the Training tab): data, trainer, checkpoints, trajectories.

`data` and `formatting` need no torch; `trainer`, `checkpoints` and `trajectory` load it when called.
"""
