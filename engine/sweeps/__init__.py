"""Sweeps: many models x many prompts as (model, prompt block) tasks, run as local jobs or on Ray,
each run staged as Parquet and imported into the cache by one writer (see engine.sweeps.run)."""
