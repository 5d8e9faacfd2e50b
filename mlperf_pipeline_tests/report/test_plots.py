from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from mlperf_pipeline.report.plots import latency_plot, status_plot, throughput_plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = (latency_plot, throughput_plot, status_plot)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a valid PNG has right after the magic."""
    assert png.startswith(PNG_MAGIC)
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


@pytest.mark.parametrize("plot", PLOTS, ids=lambda plot: plot.__name__)
def test_plot_returns_png(plot, results):
    width, height = png_size(plot(results))
    assert width > 100 and height > 100


@pytest.mark.parametrize("plot", PLOTS, ids=lambda plot: plot.__name__)
def test_plot_of_nothing_is_none(plot, empty_results):
    assert plot(empty_results) is None
    assert plot(None) is None


def test_latency_plot_needs_ok_rows(results):
    assert latency_plot(results[results["status"] != "ok"]) is None


def test_latency_plot_grows_with_models(results):
    one_model = results[results["model_type"] == "bert"]
    assert png_size(latency_plot(results))[1] > png_size(latency_plot(one_model))[1]


def test_throughput_plot_needs_several_batch_sizes(results):
    single_batch = results[results["batch_size"] == 1]
    assert throughput_plot(single_batch) is None


def test_plots_tolerate_missing_columns():
    minimal = pd.DataFrame({"model_type": ["bert"], "status": ["ok"], "latency_ms_p50": [5.0]})
    assert latency_plot(minimal).startswith(PNG_MAGIC)
    assert status_plot(minimal).startswith(PNG_MAGIC)
    assert throughput_plot(minimal) is None


def test_plots_draw_concurrently(results):
    # Figures are built without pyplot, so threads must not trample each other's state.
    with ThreadPoolExecutor(max_workers=4) as pool:
        images = list(pool.map(lambda plot: plot(results), PLOTS * 2))
    assert all(image.startswith(PNG_MAGIC) for image in images)
