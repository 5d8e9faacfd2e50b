"""The prediction grid's counts: only what is not stored is counted, down to the batch."""

import pytest

from mlperf_pipeline.analysis.prediction_grid import CountRequest, counted, counts_version
from mlperf_pipeline.skillsets.isolated import IsolatedCalls
from mlperf_pipeline.store.modelling import read_workload_counts, write_workload_counts

BERT = {"model_type": "bert", "model_class": "BertModel", "family": "encoder", "modality": "text", "tiny_overrides": {}}


@pytest.mark.slow
def test_a_pair_with_some_batches_stored_counts_only_the_others(tmp_path):
    db = tmp_path / "results.duckdb"
    version = counts_version("full")
    # What a benchmark run leaves: batches 1 and 8 counted (a marker value, to see it is kept).
    stored = {"model_type": "bert", "size": "full", "seq_len": 128, "counts_version": version, "flops": 1.0,
              "bytes": 1.0, "ops": 1, "params": 1}  # fmt: skip
    write_workload_counts(db, [{**stored, "batch_size": batch} for batch in (1, 8)])
    messages = []
    request = CountRequest("bert", "encoder", "full", version, info=BERT)
    assert request.unstored({("bert", "full", 1, 128, version)}).batches == (8, 32)
    counts = counted(db, [request], IsolatedCalls(jobs=1), progress=messages.append)
    by_batch = counts.set_index("batch_size")
    assert list(by_batch.index) == [1, 8, 32] and set(counts["family"]) == {"encoder"}
    assert by_batch.loc[1, "flops"] == by_batch.loc[8, "flops"] == 1.0  # kept, not counted again
    assert by_batch.loc[32, "flops"] > 32 * 20e9 and by_batch.loc[32, "params"] > 100e6  # bert-base, counted
    assert messages[0] == "counting 1 (type, size) pairs of the grid; 0 stored"
    assert len(read_workload_counts(db)) == 3
    # Everything stored now: nothing is counted, nothing is said.
    messages.clear()
    assert len(counted(db, [request], IsolatedCalls(jobs=1), progress=messages.append)) == 3 and messages == []
