# mlperf_pipeline: every target sets itself up (virtual environment, install, Dagster home).
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.installed

export MLPERF_HOME ?= $(CURDIR)/.mlperf
export DAGSTER_HOME := $(MLPERF_HOME)/dagster

HARDWARE ?=
TIER ?=
MODEL ?=
PROFILE ?=
SIZE ?=
FORCE ?=
LAUNCH := $(BIN)/python -m mlperf_pipeline.orchestration.launch

.PHONY: install home run test test-fast test-cluster ceilings bench register dev validate smoke clean incremental agreement reproducibility detection regressions-scale modelling counting

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: this machine has a CPU build on disk; a loose requirement pulls a CUDA build.
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	# the tested versions (constraints.txt): a new release upstream cannot turn CI red overnight
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Absolute DAGSTER_HOME with the shipped instance config (the cluster's under MLPERF_DEPLOYMENT=cluster:
# PostgreSQL, the routing run queue, Celery; README "Running on a cluster"), and a .env for `dagster dev`.
INSTANCE_YAML = $(if $(filter cluster,$(MLPERF_DEPLOYMENT)),deploy/cluster/dagster.yaml,deploy/dagster.yaml)
home:
	mkdir -p $(DAGSTER_HOME)
	cp $(INSTANCE_YAML) $(DAGSTER_HOME)/dagster.yaml
	printf 'DAGSTER_HOME=%s\nMLPERF_HOME=%s\n' "$(DAGSTER_HOME)" "$(MLPERF_HOME)" > .env

register: install home
	$(LAUNCH) register

run: install home
	$(LAUNCH) run $(if $(HARDWARE),--hardware $(HARDWARE)) $(if $(TIER),--tier $(TIER)) $(if $(PROFILE),--profile $(PROFILE)) $(if $(SIZE),--size $(SIZE))

# The roofline's ceilings (matrix-product FLOP/s, memory bandwidth) of each present hardware, or HARDWARE.
ceilings: install home
	$(LAUNCH) ceilings $(if $(HARDWARE),--hardware $(HARDWARE))

bench: install home
	$(LAUNCH) bench $(if $(HARDWARE),--hardware $(HARDWARE)) $(if $(TIER),--tier $(TIER)) $(if $(MODEL),--models $(MODEL)) $(if $(PROFILE),--profile $(PROFILE)) $(if $(SIZE),--size $(SIZE)) $(if $(FORCE),--force)

smoke: register
	$(BIN)/dagster job execute -m mlperf_pipeline.definitions -j ci_smoke_job

test: install
	$(BIN)/python -m pytest

# The suite without the tests marked slow (real Dagster runs, benchmark processes): under a minute.
test-fast: install
	$(BIN)/python -m pytest -m "not slow"

# The cluster deployment for real on loopback: PostgreSQL, Redis, the daemon, two Celery workers
# (needs Debian's postgresql and redis-server; .ci/run installs them).
test-cluster: install
	$(BIN)/python -m pytest -m cluster mlperf_pipeline_tests/cluster

validate: install
	$(BIN)/dagster definitions validate -m mlperf_pipeline.definitions

dev: register
	$(BIN)/dagster dev -m mlperf_pipeline.definitions -h 127.0.0.1 -p 3000

# A second benchmark_job over an unchanged range measures nothing: prints both runs' timings.
incremental: install
	$(BIN)/python benchmarks/incremental.py

agreement: install
	$(BIN)/python benchmarks/agreement.py $(ARGS)

# Do intervals hold from one run to the next? Ours (k processes) against one process, interleaved.
reproducibility: install
	$(BIN)/python benchmarks/reproducibility.py $(ARGS)

detection: install
	$(BIN)/python benchmarks/detection.py $(ARGS)

# `regressions` over 1,000,000 stored rows (20,000 series x 50 runs): seconds and peak RSS.
regressions-scale: install
	$(BIN)/python benchmarks/regressions_scale.py $(ARGS)

# Held-out accuracy of the roofline and the predictor on a store measured with PROFILE=modelling.
DB ?= $(MLPERF_HOME)/results.duckdb
modelling: install
	$(BIN)/python benchmarks/modelling.py --db $(DB) $(ARGS)

# The predictor's first count of the whole catalogue, and the fork-server preload against the baseline.
counting: install
	$(BIN)/python benchmarks/counting.py --skillsets $(MLPERF_HOME)/skillsets $(ARGS)

clean:
	rm -rf $(MLPERF_HOME) .env
