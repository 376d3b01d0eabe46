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
# dependencies: what the CLI, the demo and the workloads it starts import, with the `tracking` extra, whose MLflow
# server the demo runs: uv installs it in seconds), the dev tools with pyspark for
# `make test` and `make lint`, and DuckDB for `make bench`. Each stamp is redone when pyproject.toml changes.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench

# uv installs the same pinned set as pip several times faster (it resolves, downloads and links in parallel, from
# a cache of unpacked wheels). It is pyproject.toml's `uv` dependency group, fetched with the base Python's pip into
# a directory of its own; where that fails (no pip, no network), or with INSTALLER=pip, pip installs instead.
# Either way the venv is made without running ensurepip (seconds); the pip ensurepip would have put there comes
# from uv's cache, at the version the interpreter bundles.
INSTALLER ?= uv
UV_DIR := $(VENV)/tools/uv
UV := $(UV_DIR)/bin/uv
UV_STAMP := $(UV_DIR)/.tried
# The requirements of one of pyproject.toml's dependency groups, for the tool venvs.
group = $$($(PYTHON) -c 'import tomllib; \
	print(*tomllib.load(open("pyproject.toml", "rb"))["dependency-groups"]["$(1)"])')
# $(call install_into,<venv>,<pip arguments>): uv when it is there, else pip (bootstrapped by ensurepip). uv tries
# its cache alone first: an index that serves files without cache headers (as some proxies do) would otherwise
# make it download pyspark's sdist and build it again on every install (a minute and a half); on a miss it asks
# the index.
uv_install = $(UV) pip install --quiet --python $(1)/bin/python \
	"pip==$$($(1)/bin/python -c 'import ensurepip; print(ensurepip.version())')" $(2)
install_into = @test -x $(1)/bin/python || $(PYTHON) -m venv --without-pip $(1); \
	if [ "$(INSTALLER)" = uv ] && [ -x $(UV) ]; then \
		$(call uv_install,$(1),$(2)) --offline 2> /dev/null || $(call uv_install,$(1),$(2)); \
	else \
		{ $(1)/bin/python -m pip --version > /dev/null 2>&1 || $(1)/bin/python -m ensurepip --default-pip > /dev/null; } && \
		$(1)/bin/python -m pip install --quiet --disable-pip-version-check --no-compile $(2); \
	fi

$(UV_STAMP): pyproject.toml
	@mkdir -p $(UV_DIR)
	@if [ "$(INSTALLER)" = uv ]; then \
		$(PYTHON) -m pip install --quiet --disable-pip-version-check --upgrade --target $(UV_DIR) $(call group,uv) \
			> /dev/null 2>&1 || echo "uv could not be installed with $(PYTHON) -m pip: installing with pip instead"; \
	fi
	@touch $@

# Neither installer byte-compiles (pip would compile every module of every wheel one file at a time).
# prodline.bytecode does it on every core (compileall's own compile_file, with compileall's -x pattern, but the
# files handed to the workers in chunks and the directories left out never entered: compileall's command took
# 27-34 s in a fresh venv and 16 s with nothing to compile, this 15-18 s and 0.7 s), leaving out what no command
# imports or imports only in part: the test suites shipped in wheels; sympy, networkx and mpmath, which only
# cfn-lint's template checks load; debugpy; pip; pygments (rich's syntax highlighting); the providers (pulumi_aws
# alone is 120 MB of Python, of which the program imports 86 modules); and what a test run and the demo never
# imported (read times of the compiled files, 2026-12-01): the Databricks SDK that mlflow depends on (8 MB),
# setuptools, and pyspark's pandas API, ML libraries, streaming and examples (a fifth of the sources left;
# compileall then took 2-5 s less of its 24-29 s). The SageMaker SDK stays in: compiled at import, it warns of
# invalid escape sequences in the test run.
# A preview of the prod stack then writes the bytecode of the provider modules the program loads and the compiled
# classes of their types files (prodline/provider_classes.py), with bytecode writing on even where
# PYTHONDONTWRITEBYTECODE is set: otherwise every process that runs the program would compile them again.
PROJECT_PACKAGES := infra components workloads policies prodline standards bench
NOT_COMPILED := pulumi_aws|pulumi_kubernetes|sympy|networkx|mpmath|cfnlint|debugpy|pip|pygments
NOT_COMPILED := $(NOT_COMPILED)|databricks/sdk|setuptools|pyspark/(pandas|ml|mllib|streaming|examples)
define compile
	$(BIN)/python -m prodline.bytecode --exclude 'site-packages/($(NOT_COMPILED))/|/tests?/' \
		"$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" $(PROJECT_PACKAGES) > /dev/null
	PYTHONDONTWRITEBYTECODE= $(BIN)/prodline preview --stack prod --json > /dev/null 2>&1 || true
endef

# Each stamp's rule installs its target's REQUIREMENT (target-specific, as commas cannot pass through $(call)).
define install
	$(call install_into,$(VENV),-e '$(REQUIREMENT)')
	$(compile)
	@touch $@
endef

$(RUNTIME_STAMP): REQUIREMENT := .[tracking]
$(RUNTIME_STAMP): pyproject.toml $(UV_STAMP)
	$(install)

# The dev and bench extras include the runtime, so they refresh the runtime stamp too.
$(DEV_STAMP): REQUIREMENT := .[dev,spark,tracking]
$(DEV_STAMP): pyproject.toml $(UV_STAMP)
	$(install)
	@touch $(RUNTIME_STAMP)

$(BENCH_STAMP): REQUIREMENT := .[bench,tracking]
$(BENCH_STAMP): pyproject.toml $(UV_STAMP)
	$(install)
	@touch $(RUNTIME_STAMP)

# checkov in a venv of its own (its boto3 pin conflicts with the project's), inside .venv so `make clean` takes
# it too; the version is pyproject.toml's `checkov` dependency group.
CHECKOV_VENV := $(VENV)/tools/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): pyproject.toml $(UV_STAMP)
	$(call install_into,$(CHECKOV_VENV),$(call group,checkov))
	@touch $(CHECKOV_STAMP)

setup: $(DEV_STAMP) $(CHECKOV_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/prodline demo --stack $(STACK)

# --dist loadfile: each test file runs whole in one worker, so a module-scoped fixture (the lifecycle test's demo,
# the delivery test's three stacks) is built once, and tests that build on an earlier one in their file keep
# their order; the Spark tests, all in one file, start one local Spark session. --no-loadscope-reorder: files are
# handed out in collection order, where tests/conftest.py puts the longest first, not by their number of tests
# (which put the demo's four tests last, to run alone at the end). Bytecode writing is on for the run: most of
# the suite's processes run the program, and would otherwise each compile the provider modules the set-up's
# previews did not load.
test: $(DEV_STAMP) $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

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
