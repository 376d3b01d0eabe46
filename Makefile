# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when it is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STACK ?= dev

.PHONY: setup demo test lint preview bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,spark]'
	@touch $(STAMP)

# checkov in a venv of its own (its boto3 pin conflicts with the project's), inside .venv so `make clean` takes
# it too; the version is pyproject.toml's `checkov` dependency group.
CHECKOV_VENV := $(VENV)/tools/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): pyproject.toml | $(STAMP)
	@test -x $(CHECKOV_VENV)/bin/python || $(BIN)/python -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $$($(BIN)/python -c \
		'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["dependency-groups"]["checkov"])')
	@touch $(CHECKOV_STAMP)

setup: $(STAMP) $(CHECKOV_STAMP)

demo: $(STAMP)
	$(BIN)/prodline demo --stack $(STACK)

test: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

preview: $(STAMP)
	$(BIN)/prodline preview --stack $(STACK)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The end-to-end workload tests against a LocalStack (or any emulator) at AWS_ENDPOINT_URL.
LOCALSTACK_URL ?= $(or $(AWS_ENDPOINT_URL),http://localhost:4566)
.PHONY: test-localstack
test-localstack: $(STAMP)
	@echo "e2e tests against $(LOCALSTACK_URL) (each reports SKIPPED with the reason when nothing answers there)"
	AWS_ENDPOINT_URL="$(LOCALSTACK_URL)" $(BIN)/python -m pytest -m e2e -rs tests/workloads

# Benchmarks (docs/benchmarks.md): the inference server vs MLServer, the ETL vs DuckDB, the stream producer,
# batch scoring vs in-process predict_proba, `prodline preview`/`policy` wall and CPU time.
# BASELINE=<git ref>: the inference server against its own version at that ref instead, in the same run
# (c=1, 8 and 64, then a 60 s soak and 2,000 idle connections on each); the preview and policy commands
# against the repository at that ref, interleaved.
BASELINE ?=
.PHONY: bench bench-serving bench-etl bench-stream bench-batch bench-preview
bench: bench-serving bench-etl bench-stream bench-batch bench-preview

bench-serving: $(STAMP)
	$(BIN)/python -m bench.serving_bench $(if $(BASELINE),--baseline-ref $(BASELINE) --rounds 6 --seconds 8)

bench-etl: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python -m bench.etl_bench

bench-stream: $(STAMP)
	$(BIN)/python -m bench.stream_bench

bench-batch: $(STAMP)
	$(BIN)/python -m bench.batch_bench

bench-preview: $(STAMP)
	$(BIN)/python -m bench.preview_bench $(if $(BASELINE),--baseline-ref $(BASELINE))

# The inference image (docs/container-image.md). Building needs a Docker daemon; linting does not.
IMAGE ?= prodline-serving
TAG ?= dev
.PHONY: image hadolint
image:
	docker build -t $(IMAGE):$(TAG) .

hadolint: $(STAMP)
	$(BIN)/hadolint Dockerfile
	$(BIN)/shellcheck docker/entrypoint.sh

# The policy pack on the offline preview of a stack (README, "Policy pack"): `make policy STACK=prod`.
.PHONY: policy policy-config cost
policy: $(STAMP)
	$(BIN)/prodline policy --stack $(STACK)

# The stack's monthly cost estimate, offline (README "Cost").
cost: $(STAMP)
	$(BIN)/prodline cost --stack $(STACK)

# Rewrites policies/config/<env>.json (each rule's level per environment) after a rule or a level changes.
policy-config: $(STAMP)
	$(BIN)/python -m policies.pack_config

# Rewrites Pulumi.yaml's config block from the declaration in infra/config.py after a key changes
# (a test fails while they differ).
.PHONY: pulumi-yaml
pulumi-yaml: $(STAMP)
	$(BIN)/python -m infra.config --write-pulumi-yaml
