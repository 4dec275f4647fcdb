"""Loaded models shared by every user of one process (the app's sessions, a job worker's runs).

The least recently used model is dropped past `max_models`. Two callers asking for the same model
share one load; `status()` says whether a model is loaded, being loaded, or neither, so a caller can
tell its user why it waits. Each load checks first that the weights fit the free memory.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from engine.models.sizing import check_fits


class ModelPool:
    def __init__(self, home=None, max_models: int = 3):
        self.home, self.max_models = home, max_models
        self._lock = threading.Lock()
        self._models: OrderedDict = OrderedDict()
        self._loading: dict = {}

    def status(self, request) -> str | None:
        """"loaded", "loading" or None for the model a RunRequest needs."""
        key = request.model_key
        with self._lock:
            if key in self._models:
                return "loaded"
            lock = self._loading.get(key)
            return "loading" if lock is not None and lock.locked() else None

    def __call__(self, request):
        """The loaded model for a request (engine.workflows.runner.RunRequest: spec, mode, config, model_key;
        the `model_loader` of its Runner) (the `model_loader` of engine.workflows.runner.Runner)."""
        from engine.models.loading import load_model

        key = request.model_key
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            c = request.config
            check_fits(request.spec, c.dtype, c.quantization, c.device)
            lm = load_model(request.spec, mode=request.mode, dtype=c.dtype, quantization=c.quantization,
                            device=c.device, home=self.home, head_seed=c.head_seed)
            with self._lock:
                self._models[key] = lm
                while len(self._models) > self.max_models:
                    self._models.popitem(last=False)
                self._loading.pop(key, None)
            return lm
