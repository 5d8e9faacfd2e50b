"""Passes for time-series forecasters."""

from __future__ import annotations

from mlperf_pipeline.skillsets.shrink.fields import TINY_PREDICTION_LENGTH
from mlperf_pipeline.skillsets.shrink.registry import shrink_pass


@shrink_pass
def fill_forecast_horizon(original: dict, config: dict) -> None:
    """Lag-based forecasters (GluonTS style) leave `prediction_length` unset, which they require."""
    if "prediction_length" in config and config["prediction_length"] is None and config.get("lags_sequence"):
        config["prediction_length"] = TINY_PREDICTION_LENGTH
