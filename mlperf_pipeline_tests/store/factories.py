"""Rows shaped like the bench step's output, small enough to read in a test."""

from __future__ import annotations

from datetime import datetime

_SAMPLE_KEYS = {"run_id", "hardware", "model_type", "size", "batch_size", "seq_len", "dtype", "scenario", "workers"}


def result_row(model_type: str = "bert", hardware: str = "cpu", **overrides) -> dict:
    row = {
        "run_id": "bench-1",
        "measured_at": datetime(2025, 1, 1, 12, 0),
        "hardware": hardware,
        "model_type": model_type,
        "size": "tiny",
        "batch_size": 1,
        "seq_len": 128,
        "dtype": "float32",
        "scenario": "latency",
        "workers": 1,
        "status": "ok",
        "latency_ms_p50": 10.0,
        "n_samples": 3,
    }
    return {**row, **overrides}


def sample_rows(model_type: str = "bert", hardware: str = "cpu", n: int = 3, **overrides) -> list[dict]:
    base = {key: value for key, value in result_row(model_type, hardware).items() if key in _SAMPLE_KEYS}
    return [{**base, "iteration": i, "latency_ms": 10.0 + i, **overrides} for i in range(n)]
