"""The roofline from measured ceilings (`analysis/roofline.py`)."""

import pytest

from mlperf_pipeline.analysis.roofline import Roofline

CEILINGS = [
    {"metric": "matmul_flops", "dtype": "float32", "value": 100e9},
    {"metric": "matmul_flops", "dtype": "float32", "value": 140e9},  # a larger side fills the machine better
    {"metric": "matmul_flops", "dtype": "bfloat16", "value": 300e9},
    {"metric": "copy_bandwidth", "dtype": "float32", "value": 30e9},
    {"metric": "triad_bandwidth", "dtype": "float32", "value": 35e9},
]


def test_the_roofs_are_the_best_measured_rates():
    roofline = Roofline.from_ceilings("cpu", CEILINGS)
    assert roofline.flops_per_s == {"float32": 140e9, "bfloat16": 300e9} and roofline.bytes_per_s == 35e9
    assert Roofline.from_ceilings("cpu", CEILINGS[:3]) is None  # no bandwidth: no roofline


def test_intensity_above_the_ridge_is_compute_bound():
    roofline = Roofline.from_ceilings("cpu", CEILINGS)  # float32 ridge: 4 FLOPs per byte
    assert roofline.bound(8e9, 1e9, "float32") == "compute"
    assert roofline.bound(2e9, 1e9, "float32") == "memory"
    assert roofline.seconds(2e9, 1e9, "float32") == pytest.approx(1e9 / 35e9)
    assert roofline.bound(8e9, 1e9, "float16") is None  # no float16 product was measured


def test_a_rows_fraction_is_its_achieved_rate_over_the_peak():
    roofline = Roofline.from_ceilings("cpu", CEILINGS)
    fields = roofline.row_fields({"flops": 14e9, "bytes": 1e9, "dtype": "float32", "latency_ms_p50": 1000.0})
    assert fields == {"roofline_fraction": pytest.approx(0.1), "bound": "compute"}
    missing = roofline.row_fields({"flops": None, "bytes": None, "dtype": "float32", "latency_ms_p50": None})
    assert missing == {"roofline_fraction": None, "bound": None}
