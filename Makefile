# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when it is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev
# pytest-xdist workers for `make test`: one per CPU (`auto`); TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= auto

.PHONY: setup demo test lint preview bench clean

# What each target installs, so `make demo` never waits for the test tools: the runtime (the package and its
# dependencies: what the CLI, the demo and the workloads it starts import), the dev tools with pyspark for
# `make test` and `make lint`, and DuckDB for `make bench`. Each stamp is redone when pyproject.toml changes.
# --no-compile: pip would byte-compile every module of every wheel one file at a time (pulumi_aws alone is 270 MB
# of Python, of which a run imports a small part); instead compileall does the rest on every core, leaving
# pulumi_aws's modules to be compiled on first import (the program loads only the ones it declares).
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile
# Each stamp's rule installs its target's REQUIREMENT (target-specific, as commas cannot pass through $(call)).
define install
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '$(REQUIREMENT)'
	$(BIN)/python -m compileall -q -j 0 -x '/pulumi_aws/' "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" > /dev/null
	@touch $@
endef

$(RUNTIME_STAMP): REQUIREMENT := .
$(RUNTIME_STAMP): pyproject.toml
	$(install)

# The dev and bench extras include the runtime, so they refresh the runtime stamp too.
$(DEV_STAMP): REQUIREMENT := .[dev,spark,tracking]
$(DEV_STAMP): pyproject.toml
	$(install)
	@touch $(RUNTIME_STAMP)

$(BENCH_STAMP): REQUIREMENT := .[bench]
$(BENCH_STAMP): pyproject.toml
	$(install)
	@touch $(RUNTIME_STAMP)

# checkov in a venv of its own (its boto3 pin conflicts with the project's), inside .venv so `make clean` takes
# it too; the version is pyproject.toml's `checkov` dependency group.
CHECKOV_VENV := $(VENV)/tools/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): pyproject.toml
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-compile $$($(CHECKOV_VENV)/bin/python -c \
		'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["dependency-groups"]["checkov"])')
	@touch $(CHECKOV_STAMP)

setup: $(DEV_STAMP) $(CHECKOV_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/prodline demo --stack $(STACK)

# --dist loadfile: each test file runs whole in one worker, so a module-scoped fixture (the lifecycle test's demo,
# the delivery test's three stacks) is built once, and tests that build on an earlier one in their file keep
# their order; the Spark tests, all in one file, start one local Spark session.
test: $(DEV_STAMP) $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

preview: $(RUNTIME_STAMP)
	$(BIN)/prodline preview --stack $(STACK)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The end-to-end workload tests against a LocalStack (or any emulator) at AWS_ENDPOINT_URL.
LOCALSTACK_URL ?= $(or $(AWS_ENDPOINT_URL),http://localhost:4566)
.PHONY: test-localstack
test-localstack: $(DEV_STAMP)
	@echo "e2e tests against $(LOCALSTACK_URL) (each reports SKIPPED with the reason when nothing answers there)"
	AWS_ENDPOINT_URL="$(LOCALSTACK_URL)" $(BIN)/python -m pytest -m e2e -rs tests/workloads

# Benchmarks (docs/benchmarks.md): the inference server vs MLServer, the ETL vs DuckDB, the stream producer,
# batch scoring vs in-process predict_proba, `prodline preview`/`policy` wall and CPU time.
# BASELINE=<git ref>: the inference server against its own version at that ref instead, in the same run
# (c=1, 8 and 64, then a 60 s soak and 2,000 idle connections on each); the preview and policy commands
# against the repository at that ref, interleaved.
# `make bench` ends with the ratios against MLServer, uvicorn + httptools and DuckDB read back from this run's
# results files (bench/.work/*-results.json); it takes about 15-20 minutes on 2 cores (serving: 5 rounds of
# 5 servers x 3 concurrencies x 5 s of wrk; ETL: 5 rounds of 2 engines on 5M rows).
# ROUNDS=<n>: rounds of the serving and ETL benchmarks (default 5).
BASELINE ?=
ROUNDS ?= 5
BENCH_STARTED := $(shell date +%s)
.PHONY: bench bench-serving bench-etl bench-stream bench-batch bench-preview wrk
bench: bench-serving bench-etl bench-stream bench-batch bench-preview
	$(if $(BASELINE),,$(BIN)/python -m bench.summary --since $(BENCH_STARTED))

bench-serving: $(BENCH_STAMP) wrk
	$(BIN)/python -m bench.serving_bench $(if $(BASELINE),--baseline-ref $(BASELINE) --rounds 6 --seconds 8,--rounds $(ROUNDS))

bench-etl: $(BENCH_STAMP)
	$(BIN)/python -m bench.etl_bench --runs $(ROUNDS)

# The load generator of bench-serving, from the system's packages (Debian/Ubuntu: as root, or through sudo).
wrk:
	@command -v wrk > /dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo > /dev/null; then SUDO=sudo; \
	  else echo "wrk is missing: install it as root with apt-get install -y wrk" >&2; exit 1; fi; \
	  $$SUDO apt-get install -y wrk || { $$SUDO apt-get update && $$SUDO apt-get install -y wrk; }; }

bench-stream: $(BENCH_STAMP)
	$(BIN)/python -m bench.stream_bench

bench-batch: $(BENCH_STAMP)
	$(BIN)/python -m bench.batch_bench

bench-preview: $(BENCH_STAMP)
	$(BIN)/python -m bench.preview_bench $(if $(BASELINE),--baseline-ref $(BASELINE))

# The inference image (docs/container-image.md). Building needs a Docker daemon; linting does not.
IMAGE ?= prodline-serving
TAG ?= dev
.PHONY: image hadolint
image:
	docker build -t $(IMAGE):$(TAG) .

hadolint: $(DEV_STAMP)
	$(BIN)/hadolint Dockerfile
	$(BIN)/shellcheck docker/entrypoint.sh

# The policy pack on the offline preview of a stack (README, "Policy pack"): `make policy STACK=prod`.
.PHONY: policy policy-config cost
policy: $(RUNTIME_STAMP)
	$(BIN)/prodline policy --stack $(STACK)

# The stack's monthly cost estimate, offline (README "Cost").
cost: $(RUNTIME_STAMP)
	$(BIN)/prodline cost --stack $(STACK)

# Rewrites policies/config/<env>.json (each rule's level per environment) after a rule or a level changes.
policy-config: $(RUNTIME_STAMP)
	$(BIN)/python -m policies.pack_config

# Rewrites Pulumi.yaml's config block from the declaration in infra/config.py after a key changes
# (a test fails while they differ).
.PHONY: pulumi-yaml
pulumi-yaml: $(RUNTIME_STAMP)
	$(BIN)/python -m infra.config --write-pulumi-yaml
