"""A small, realistic set of current result rows shared by the report tests."""

from __future__ import annotations

import pandas as pd
import pytest

from mlperf_pipeline.analysis.noise import noise_per_series
from mlperf_pipeline.report.frame import RESULT_COLUMNS

SCRIPT_MODEL = "<script>alert('x')</script>"
OOM_REASON = "CUDA out of memory. Tried to allocate 2.00 GiB | free 1.1 GiB"
TOO_LARGE_REASON = "7.2B parameters exceed the 16 GiB memory cap"


def _row(model_type: str, family: str, status: str = "ok", **fields) -> dict:
    """One result row with every contract column, defaults for a cpu latency measurement."""
    row = dict.fromkeys(RESULT_COLUMNS)
    row.update(
        run_id=f"{model_type[:8]}-{fields.get('hardware', 'cpu')}-{fields.get('size', 'tiny')}-b{fields.get('batch_size', 1)}",
        measured_at=pd.Timestamp("2025-01-02 03:04:05"),
        hardware="cpu",
        device_name="AMD EPYC 7B13",
        model_type=model_type,
        family=family,
        size="tiny",
        batch_size=1,
        seq_len=128,
        dtype="float32",
        scenario="latency",
        status=status,
        env_fingerprint="cpu-3f2a9c",
        threads=2,
    )
    if status == "ok":
        row.update(
            latency_ms_p50=10.0,
            ci95_low_ms=9.5,
            ci95_high_ms=10.6,
            latency_ms_p90=11.0,
            latency_ms_p99=12.5,
            n_samples=200,
            warmup_n=12,
            throughput_per_s=100.0,
            peak_memory_mb=310.0,
            first_call_ms=45.0,
            build_s=0.8,
        )
    row.update(fields)
    return row


def _bert_sweep() -> list[dict]:
    return [
        _row(
            "bert",
            "encoder",
            scenario="batch_sweep",
            batch_size=batch,
            latency_ms_p50=p50,
            ci95_low_ms=p50 * 0.97,
            ci95_high_ms=p50 * 1.03,
            throughput_per_s=batch * 1000 / p50,
        )
        for batch, p50 in ((1, 6.0), (4, 15.0), (16, 48.0))
    ]


# Each hardware's ceilings, as `hardware_ceilings` holds them: 100 GFLOP/s float32, 20 GB/s.
def build_ceilings() -> pd.DataFrame:
    common = dict(run_id="c1", measured_at=pd.Timestamp("2025-01-02"), hardware="cpu", device_name="cpu",
                  env_fingerprint="cpu-3f2a9c", threads=2, n_processes=5, ci_low=None, ci_high=None)  # fmt: skip
    return pd.DataFrame(
        [
            {**common, "metric": "matmul_flops", "dtype": "float32", "value": 1e11, "unit": "FLOP/s", "size": 512},
            {**common, "metric": "copy_bandwidth", "dtype": "float32", "value": 2e10, "unit": "B/s", "size": 2**28},
        ]
    )


def build_results() -> pd.DataFrame:
    rows = [
        _row(
            "bert",
            "encoder",
            latency_ms_p50=6.1,
            ci95_low_ms=5.9,
            ci95_high_ms=6.4,
            flops=2.5e9,
            bytes=2.5e8,
            bound="compute",
            roofline_fraction=0.41,
            params=4_400_000,
        ),
        _row(
            "bert",
            "encoder",
            size="full",
            latency_ms_p50=80.0,
            ci95_low_ms=78.0,
            ci95_high_ms=83.0,
            peak_memory_mb=900.0,
            params=110_000_000,
            flops=22e9,
            bytes=5e8,
            bound="memory",
            roofline_fraction=0.19,
        ),
        *_bert_sweep(),
        _row("gpt2", "decoder", latency_ms_p50=14.2, ci95_low_ms=None, ci95_high_ms=None),
        _row(
            "gpt2",
            "decoder",
            hardware="cuda",
            device_name="NVIDIA H100",
            latency_ms_p50=1.3,
            ci95_low_ms=1.25,
            ci95_high_ms=1.4,
            env_fingerprint="cuda-77e1",
        ),
        _row("t5", "encoder-decoder", latency_ms_p50=22.0, ci95_low_ms=21.1, ci95_high_ms=23.0, dtype="bfloat16"),
        _row(
            "whisper",
            "speech/audio",
            status="failed",
            reason_code="out_of_memory",
            reason=OOM_REASON,
            hardware="cuda",
            device_name="NVIDIA H100",
        ),
        _row("llama", "decoder", status="skipped", size="full", reason_code="too_large", reason=TOO_LARGE_REASON),
        _row(
            SCRIPT_MODEL,
            None,
            status="invalid",
            reason_code="too_noisy",
            reason="CI half-width 9% > 2% <b>target</b>",
            latency_ms_p50=3.0,
        ),
    ]
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


# Earlier runs of two of the series above: bert at batch 1 has history enough for a noise estimate
# (median 6.1, MAD 0.1: 1.4826 x 0.1 / 6.1 = 2.4%), gpt2 on cpu only two runs.
BERT_RUNS_MS = (6.0, 6.1, 6.2, 5.9, 6.4, 6.1, 6.0)
GPT2_CPU_RUNS_MS = (14.9, 14.2)


def build_noise() -> pd.DataFrame:
    """The series noise of a small history, computed as the report asset gets it from the store."""
    history = [
        *(
            _row("bert", "encoder", latency_ms_p50=ms, measured_at=pd.Timestamp(2025, 1, 1 + i))
            for i, ms in enumerate(BERT_RUNS_MS)
        ),
        *(
            _row("gpt2", "decoder", latency_ms_p50=ms, measured_at=pd.Timestamp(2025, 1, 1 + i))
            for i, ms in enumerate(GPT2_CPU_RUNS_MS)
        ),
        _row("gpt2", "decoder", status="failed", reason_code="crash"),
    ]
    return noise_per_series(pd.DataFrame(history, columns=list(RESULT_COLUMNS)))


@pytest.fixture
def noise() -> pd.DataFrame:
    return build_noise()


@pytest.fixture
def results() -> pd.DataFrame:
    return build_results()


@pytest.fixture
def empty_results() -> pd.DataFrame:
    return pd.DataFrame(columns=list(RESULT_COLUMNS))
