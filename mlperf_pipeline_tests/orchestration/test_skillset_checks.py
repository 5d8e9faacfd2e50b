"""The smoke asset check per skillset, the stored coverage table, and isolation of the checks."""

import time

import dagster as dg
import pytest

from mlperf_pipeline.catalog.catalog import entry_for
from mlperf_pipeline.orchestration.assets.skillsets import SMOKE_CHECK, skillsets
from mlperf_pipeline.orchestration.resources import resources_under
from mlperf_pipeline.report.coverage import coverage_by_family, coverage_table
from mlperf_pipeline.skillsets.checks import CheckStore
from mlperf_pipeline.skillsets.generate import checked_specs
from mlperf_pipeline.skillsets.isolated import IsolatedCalls
from mlperf_pipeline.store.results import read_skillset_coverage
from mlperf_pipeline_tests.isolated_targets import misbehave

NAN_OVERRIDE = """
import torch


class Broken(torch.nn.Module):
    def forward(self, x):
        return x * float("nan")


def build(size="tiny", device="cpu", dtype="float32"):
    return Broken()


def inputs(model, batch_size=1, seq_len=128, device="cpu", dtype="float32"):
    return {"x": torch.ones(batch_size, seq_len)}
"""


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.mark.slow
def test_each_partition_gets_its_own_smoke_result_and_the_coverage_table_is_stored(instance, tmp_path):
    instance.add_dynamic_partitions("model_type", ["bert", "distilbert"])
    instance.add_dynamic_partitions("hardware", ["cpu"])
    resources = resources_under(tmp_path)
    overrides = tmp_path / "overrides"
    overrides.mkdir(exist_ok=True)
    (overrides / "hf_distilbert.py").write_text(NAN_OVERRIDE)
    resources["bench_settings"] = resources["bench_settings"].model_copy(update={"overrides_dir": str(overrides)})
    tags = {"dagster/asset_partition_range_start": "cpu|bert", "dagster/asset_partition_range_end": "cpu|distilbert"}

    result = dg.materialize([skillsets], instance=instance, resources=resources, tags=tags)

    assert result.success  # a failed smoke check does not fail generation
    outcomes = {e.partition: e for e in result.get_asset_check_evaluations()}
    assert set(outcomes) == {"cpu|bert", "cpu|distilbert"}
    assert outcomes["cpu|bert"].passed and outcomes["cpu|bert"].asset_check_key == SMOKE_CHECK
    assert not outcomes["cpu|distilbert"].passed
    assert outcomes["cpu|distilbert"].metadata["reason_code"].value == "non_finite_output"
    coverage = read_skillset_coverage(tmp_path / "results.duckdb").set_index("model_type")
    assert coverage.loc["bert", "status"] == "ok" and coverage.loc["bert", "params_full"] == 109482240
    assert coverage.loc["distilbert", "reason_code"] == "non_finite_output" and bool(
        coverage.loc["distilbert", "overridden"]
    )
    metadata = result.asset_materializations_for_node("skillsets")[0].metadata
    assert metadata["smoke_ok"].value == 1 and "| distilbert |" in metadata["coverage"].value


@pytest.mark.slow
def test_stored_outcomes_are_reused_and_a_changed_candidate_is_checked_again(tmp_path):
    store = CheckStore(tmp_path / "checks.json")
    calls = IsolatedCalls(jobs=1, timeout_s=120)
    entries = [entry_for("bert")]

    first = checked_specs(entries, store, calls)
    messages = []
    again = checked_specs(entries, CheckStore(tmp_path / "checks.json"), calls, log=messages.append)

    assert first["bert"][1]["status"] == "ok" and again["bert"][1] == first["bert"][1]
    assert first["bert"][0].params["tiny"] == again["bert"][0].params["tiny"] > 0
    assert "0 checked" in messages[-1]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "max_tiny_params", "reason_code"),
    [
        ({"hidden_size": 30, "num_attention_heads": 4}, None, "library_error"),  # heads do not divide the width
        ({}, 1, "too_large"),
    ],
)
def test_a_failed_check_made_in_process_serialises_as_dagster_metadata(overrides, max_tiny_params, reason_code):
    """A direct `check_info` result (no JSON round trip between processes) holds plain strings:
    Dagster refuses enums in an asset check's or a materialisation's metadata."""
    from dagster._serdes import deserialize_value, serialize_value

    from mlperf_pipeline.orchestration.assets.skillsets import SKILLSETS, _smoke_evaluation, coverage_metadata
    from mlperf_pipeline.skillsets.checks import check_info
    from mlperf_pipeline.skillsets.runtime import SkillsetInfo

    entry = entry_for("bert")
    info = SkillsetInfo(entry.model_type, entry.model_class, entry.family, entry.modality, overrides)
    outcome = check_info(info, max_tiny_params)
    assert (outcome["status"], outcome["reason_code"]) == ("failed", reason_code)
    assert type(outcome["status"]) is str and type(outcome["reason_code"]) is str

    evaluation = deserialize_value(serialize_value(_smoke_evaluation("cpu|bert", outcome)), dg.AssetCheckEvaluation)
    assert not evaluation.passed and evaluation.metadata["reason_code"].value == reason_code
    row = {"model_type": "bert", "family": entry.family, "params_tiny": None, "params_full": None, **outcome}
    materialisation = dg.AssetMaterialization(SKILLSETS, metadata=coverage_metadata([row]))
    by_family = deserialize_value(serialize_value(materialisation), dg.AssetMaterialization).metadata["by_family"]
    assert by_family.value == {entry.family: {"total": 1, reason_code: 1}}


def test_isolated_calls_classify_crashes_and_hangs_and_keep_going():
    started = time.monotonic()
    results = IsolatedCalls(jobs=2, timeout_s=5, preload=()).map(
        misbehave, ["fine", "segfault", "hang", "raise", "also fine"]
    )
    assert [r["status"] for r in results] == ["ok", "failed", "failed", "failed", "ok"]
    assert [r.get("reason_code") for r in results] == [None, "crash", "timeout", "crash", None]
    assert "ValueError: boom" in results[3]["reason"] and results[4]["how"] == "also fine"
    assert time.monotonic() - started < 30


def test_coverage_table_lists_failures_first_with_reasons_and_sizes():
    rows = [
        {
            "model_type": "bert",
            "family": "encoder",
            "status": "ok",
            "reason_code": None,
            "reason": None,
            "params_tiny": 169664,
            "params_full": 109482240,
        },
        {
            "model_type": "odd|name",
            "family": "vision",
            "status": "failed",
            "reason_code": "library_error",
            "reason": "forward: boom",
            "params_tiny": None,
            "params_full": None,
        },
    ]
    assert coverage_by_family(rows) == {"encoder": {"total": 1, "ok": 1}, "vision": {"total": 1, "library_error": 1}}
    table = coverage_table(rows)
    assert "1 of 2 types" in table and "| 0.17 M | 109.48 M |" in table
    assert table.index("odd\\|name") < table.index("| bert |")


@pytest.mark.slow
def test_a_yaml_config_patch_changes_the_tiny_model_and_a_broken_one_names_its_file(tmp_path):
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    (overrides / "hf_bert.yaml").write_text(
        "config:\n  num_hidden_layers: 1\n  hidden_size: 32\n  intermediate_size: 48\n"
    )
    (overrides / "hf_gpt2.yaml").write_text("config: [not, a, mapping]\n")
    calls = IsolatedCalls(jobs=1, timeout_s=120)

    specs = checked_specs(
        [entry_for("bert"), entry_for("gpt2")], CheckStore(tmp_path / "checks.json"), calls, overrides_dir=overrides
    )

    bert, bert_smoke = specs["bert"]
    assert bert.tiny_overrides["num_hidden_layers"] == 1 and bert.tiny_overrides["hidden_size"] == 32
    assert bert_smoke["status"] == "ok" and bert_smoke["params_tiny"] < entry_params_without_patch(tmp_path, calls)
    gpt2, gpt2_smoke = specs["gpt2"]
    assert gpt2_smoke["reason_code"] == "invalid_config" and "hf_gpt2.yaml" in gpt2_smoke["reason"]
    assert gpt2.build_errors["tiny"] == gpt2_smoke["reason"]


def entry_params_without_patch(tmp_path, calls) -> int:
    return checked_specs([entry_for("bert")], CheckStore(tmp_path / "plain.json"), calls)["bert"][1]["params_tiny"]


def test_generated_literals_evaluate_back_even_for_non_finite_floats():
    from mlperf_pipeline.skillsets.spec import literal

    value = {"clip": float("inf"), "floor": [float("-inf"), 0.5], "nested": {"pair": (1, float("inf"))}}
    assert eval(literal(value), {}) == value  # a bare `inf` in a generated module is a NameError at import
