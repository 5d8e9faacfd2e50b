"""What a generated skillset depends on: override files and the generator's code, hashed."""

import shutil
from pathlib import Path

from mlperf_pipeline.skillsets import versions
from mlperf_pipeline.skillsets.spec import SkillsetSpec
from mlperf_pipeline.skillsets.versions import (
    NO_OVERRIDE,
    generator_code_version,
    override_filenames,
    override_versions,
    patch_filename,
)


def test_override_file_names_come_from_the_module_name():
    assert override_filenames("bert") == ("hf_bert.py", "hf_bert.yaml")
    assert override_filenames("xlm-roberta") == ("hf_xlm_roberta.py", "hf_xlm_roberta.yaml")
    assert override_filenames("a.b-c") == (SkillsetSpec.filename_for("a.b-c"), "hf_a_b_c.yaml")
    assert patch_filename("xlm-roberta") == "hf_xlm_roberta.yaml"


def test_override_versions_are_the_hashes_written_before_the_move(tmp_path):
    (tmp_path / "hf_bert.py").write_text("def build(): pass\n")
    (tmp_path / "hf_bert.yaml").write_text("config: {num_hidden_layers: 1}\n")
    (tmp_path / "hf_xlm_roberta.yaml").write_text("config: {num_hidden_layers: 2}\n")
    (tmp_path / "hf_gpt2.txt").write_text("not an override")
    keys = ["bert", "gpt2", "xlm-roberta", "a.b-c"]
    assert override_versions(tmp_path, keys) == {
        "bert": "7fb141a79d39bfbc",
        "gpt2": NO_OVERRIDE,
        "xlm-roberta": "ea3b05823f40ff03",
        "a.b-c": NO_OVERRIDE,
    }
    assert override_versions(tmp_path / "missing", keys) == dict.fromkeys(keys, NO_OVERRIDE)


def test_the_generator_code_version_follows_the_generator_sources_and_nothing_else(tmp_path):
    real = generator_code_version()
    assert generator_code_version() == real and generator_code_version.cache_info().currsize >= 1  # read once
    package = tmp_path / "skillsets"
    shutil.copytree(Path(versions.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    assert generator_code_version(package) == real  # the same files at the same relative paths
    seen = {real}
    for edit in (package / "templates" / "skillset.py.j2", package / "shrink" / "passes" / "vision.py"):
        edit.write_bytes(edit.read_bytes() + b"\n")
        generator_code_version.cache_clear()
        assert generator_code_version(package) not in seen
        seen.add(generator_code_version(package))
    (package / "versions.py").write_text("# decides which patch file a type reads\n")
    generator_code_version.cache_clear()
    assert generator_code_version(package) not in seen
