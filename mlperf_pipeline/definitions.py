from mlperf_pipeline.orchestration.definitions import defs  # noqa: F401
