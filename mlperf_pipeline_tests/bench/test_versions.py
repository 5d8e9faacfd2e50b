"""The benchmark data version: one encode/parse pair, byte-identical to what is already stored."""

import pytest

from mlperf_pipeline.bench.request import BENCH_VERSION, BenchGrid
from mlperf_pipeline.bench.versions import BenchmarkVersion, grid_hash, measurement

# Written by the code before the move (`inputs_version` in orchestration/assets/benchmarks.py):
# Dagster event logs and DuckDB hold strings like these, so a change would re-measure everything.
DEFAULT_GRID_INPUTS = "s=0123456789abcdef:e=fedcba9876543210:b=2:g=2ec7b0e8"
OTHER_GRID_INPUTS = "s=s1:e=absent:b=2:g=6baee381"
OTHER_GRID = dict(
    size="full", batch_sizes=[1, 8], seq_lens=[128], dtypes=["float32", "bfloat16"], threads=2, workers=[2]
)


def test_inputs_are_written_exactly_as_before():
    assert BenchmarkVersion("0123456789abcdef", "fedcba9876543210", "2", "2ec7b0e8").encode() == DEFAULT_GRID_INPUTS
    assert BenchmarkVersion.parse(OTHER_GRID_INPUTS).encode() == OTHER_GRID_INPUTS


def test_the_grid_hash_follows_every_field_of_the_grid():
    # Bench 3 added `processes` to the grid (and moved the default target), bench 4 `max_processes`:
    # each time every grid hash changed once, which re-measures everything, as the bench version
    # change does anyway.
    assert grid_hash(BenchGrid()) == "5e79766a" and grid_hash(BenchGrid(**OTHER_GRID)) == "6df3dd0a"
    assert grid_hash(BenchGrid(processes=2)) != grid_hash(BenchGrid())
    assert grid_hash(BenchGrid(max_processes=8)) != grid_hash(BenchGrid())
    # A list of one size is the grid of that size (stored versions stay valid); two sizes are another grid.
    assert grid_hash(BenchGrid(size=["tiny"])) == grid_hash(BenchGrid())
    assert grid_hash(BenchGrid(size=["full", "tiny"])) != grid_hash(BenchGrid(size=["tiny", "full"]))
    made = BenchmarkVersion.of_inputs("0123456789abcdef", "fedcba9876543210", BenchGrid())
    assert made == BenchmarkVersion("0123456789abcdef", "fedcba9876543210", BENCH_VERSION, "5e79766a")


def test_a_materialisation_version_adds_the_run():
    inputs = BenchmarkVersion.parse(DEFAULT_GRID_INPUTS)
    assert inputs.measured_by("3f2a9c7e0b1d4e5f").encode() == DEFAULT_GRID_INPUTS + ":r=3f2a9c7e"
    assert inputs.measured_by("db").encode() == DEFAULT_GRID_INPUTS + ":r=db"
    assert inputs.recorded_in(DEFAULT_GRID_INPUTS + ":r=3f2a9c7e")
    assert not inputs.recorded_in(None) and not inputs.recorded_in(DEFAULT_GRID_INPUTS)
    assert not inputs.recorded_in(DEFAULT_GRID_INPUTS.replace("e=fedcba9876543210", "e=absent") + ":r=x")


@pytest.mark.parametrize(
    "text",
    [
        DEFAULT_GRID_INPUTS,
        DEFAULT_GRID_INPUTS + ":r=3f2a9c7e",
        "s=x:e=absent:b=2:r=z",  # written before the grid was recorded
        "s=x:e=absent:b=1",
    ],
)
def test_parse_and_encode_round_trip(text):
    version = BenchmarkVersion.parse(text)
    assert version.encode() == text
    assert BenchmarkVersion.parse(version.encode()) == version
    assert version.inputs.run is None and version.inputs.encode() == text.split(":r=")[0]


def test_fields_are_named():
    version = BenchmarkVersion.parse("s=abc:e=absent:b=2:g=12345678:r=db")
    assert (version.skillset, version.environment, version.bench, version.grid, version.run) == (
        "abc",
        "absent",
        "2",
        "12345678",
        "db",
    )


@pytest.mark.parametrize(
    "text",
    ["", "d41d8cd98f00b204", "e=x:s=y:b=2", "s=x:e=y", "s=x:e=y:b=2:g=h:r=r:extra", "s=:e=y:b=2", None, 12],
)
def test_a_malformed_version_is_refused_naming_the_format(text):
    with pytest.raises(ValueError, match=r"not a benchmark data version \(expected s=\.\.:e=\.\.:b=\.\."):
        BenchmarkVersion.parse(text)


def test_the_schedule_reads_measurements_and_ignores_anything_else():
    measured = measurement(f"s=x:e=absent:b={BENCH_VERSION}:g=y:r=z")
    assert (measured.environment, measured.bench, measured.run) == ("absent", BENCH_VERSION, "z")
    assert measurement(None) is None
    assert measurement("d41d8cd98f00b204") is None  # Dagster's own default data version
    assert measurement(DEFAULT_GRID_INPUTS) is None  # inputs alone are not a measurement


def test_a_grid_of_several_sizes_measures_each_as_a_grid_of_one():
    grid = BenchGrid(size=["full", "tiny"], batch_sizes=[1, 8])
    assert grid.sizes == ["full", "tiny"] and BenchGrid().sizes == ["tiny"]
    assert grid.at_size("tiny").size == "tiny" and grid.at_size("tiny").batch_sizes == [1, 8]
    with pytest.raises(ValueError, match="not in this grid's sizes"):
        BenchGrid().at_size("full")


@pytest.mark.parametrize("size", [["tiny", "huge"], [], ["tiny", "tiny"], "large", [1]])
def test_a_bad_size_is_refused_naming_the_field(size):
    with pytest.raises(ValueError, match="size"):
        BenchGrid(size=size)


def test_a_request_measures_one_size():
    from mlperf_pipeline.bench.request import BenchRequest

    with pytest.raises(ValueError, match="one size"):
        BenchRequest(skillset_path="x.py", model_type="bert", hardware="cpu", size=["full", "tiny"])
