# snowflake_xgb: build, push and run the training image.
#
#   make build                  build the training image IMAGE:TAG
#   make push                   push it to Amazon ECR (needs AWS credentials)
#   make local                  run a HOSTS-host job locally against seeded stand-ins
#   make local-serve            the same, then serve the model from the image and predict
#   make sdk-venv               venvs with the SageMaker Python SDK v3 and v2 for their tests
#   make venv                   create or refresh .venv: the project on the image's locked versions
#   make ci                     every test CI runs, as .ci/run runs them (both connector lines)
#   make test                   every test on the image's versions, container tests included
#   make docs                   rewrite the generated parts of docs/ (settings, module table)
#   make bench                  the benchmarks (docs/benchmarks.md); bench-signin: sign-in time
#   make lock                   refresh docker/locks/ (the image's exact versions, with hashes)
#   make clean                  remove local job folders and dangling build stages
#
# Variables (override on the command line, e.g. `make build XGBOOST_PACKAGE=xgboost`):
IMAGE           ?= snowflake-xgb
TAG             ?= latest
REGION          ?= $(or $(AWS_REGION),$(AWS_DEFAULT_REGION))
BASE_IMAGE      ?= python:3.13-slim
BUILDER_IMAGE   ?=
XGBOOST_PACKAGE ?= xgboost-cpu
HOSTS           ?= 2
# LOCAL_BASE: no = use BASE_IMAGE from its registry; yes = build from a Debian base made with
# debootstrap (no registry needed; the build uses the host network and hands the machine's CA
# bundle to pip); auto = yes only when BASE_IMAGE can be neither found nor pulled.
LOCAL_BASE      ?= auto
CA_BUNDLE       ?=
ECR_REPOSITORY  ?= $(IMAGE)
# The project's virtual environment, made and refreshed by `make venv` (which test, test-fast
# and bench run first). VENV_VERSIONS: lock = the image's versions (docker/locks/), newest =
# the newest pyproject.toml allows, with CONNECTOR_SPEC's connector (.ci/run's second line).
VENV            ?= .venv
VENV_VERSIONS   ?= lock
CONNECTOR_SPEC  ?= snowflake-connector-python>=5,<6
PYTHON          ?= $(VENV)/bin/python
# More pytest arguments for test and test-fast (e.g. PYTEST_ARGS="-k scoring").
PYTEST_ARGS     ?=
# make lock: LOCK_UPGRADE=yes moves every package to its newest allowed version; no keeps the
# locked ones where they still fit (after a pyproject.toml change).
LOCK_UPGRADE    ?= yes
# The stand-ins' own environment (fakesnow pins connector 4.x; the product runs on 4.8+ and 5.x).
STANDINS_VENV   ?= .work/standins-venv

export IMAGE TAG BASE_IMAGE BUILDER_IMAGE XGBOOST_PACKAGE LOCAL_BASE CA_BUNDLE CONNECTOR_SPEC
export LOCK_UPGRADE

.PHONY: help build build-standins base-image push local test test-fast bench bench-signin clean
.PHONY: clean-images local-serve sdk-venv standins-venv venv venv-connector4 lock
.PHONY: aws-xgboost-envs ci docs

help:
	@sed -n '2,15p' Makefile | sed 's/^# \{0,1\}//'

build:
	docker/build.sh

build-standins:
	docker/build.sh --standins

# Only the Debian base images (build does this itself when LOCAL_BASE resolves to yes).
base-image:
	docker/make_base_image.sh

# (.venv made first only when PYTHON names no interpreter yet)
push: $(if $(wildcard $(PYTHON)),,venv)
	$(PYTHON) docker/push_ecr.py $(IMAGE) --tag $(TAG) --repository $(ECR_REPOSITORY) \
		$(if $(REGION),--region $(REGION))

# local_test/localmode.py is standard library only: the machine's python3 runs it.
local: build-standins
	python3 local_test/localmode.py run --hosts $(HOSTS) \
		--image $(IMAGE):$(TAG) --standins-image $(IMAGE)-standins:$(TAG)

# The stand-ins (fakesnow, moto, our Snowflake front) run from their own environment.
standins-venv: $(STANDINS_VENV)/.installed

$(STANDINS_VENV)/.installed: local_test/standins-requirements.txt
	python3 -m venv $(STANDINS_VENV)
	$(STANDINS_VENV)/bin/python -m pip install -q -r local_test/standins-requirements.txt
	touch $@

# Train as `make local` does, then serve the model from the same image (docker run ... serve),
# print predictions for a few rows (CSV and keyed JSON) and stop the server.
local-serve: build-standins
	python3 local_test/localmode.py run --serve --hosts $(HOSTS) \
		--image $(IMAGE):$(TAG) --standins-image $(IMAGE)-standins:$(TAG)

# The project (editable) with its test tools; skipped when up to date with the lock.
venv:
	local_test/make_venv.sh $(VENV) $(VENV_VERSIONS)

# The image's locks (docker/lock.sh): docker/locks/{xgboost-cpu,xgboost,build}.txt.
lock:
	docker/lock.sh

# The SageMaker Python SDK, v3 and v2, in their own venvs for the SDK local-mode tests (never a
# dependency of the image or the package).
sdk-venv:
	local_test/make_sdk_venv.sh
	SDK_SPEC='sagemaker>=2.250,<3' SDK_VENV=.work/sdk-v2-venv local_test/make_sdk_venv.sh

# The newest versions pyproject.toml allows, on connector 4.x: CI's second line, which shows
# what a lock refresh would bring.
NEWEST_LINE = VENV=.work/venv-connector4 VENV_VERSIONS=newest \
	CONNECTOR_SPEC='snowflake-connector-python>=4.8,<5'
venv-connector4:
	$(MAKE) venv $(NEWEST_LINE)

# XGBoost 1.7.4, 3.0.5 and 3.2.0 (AWS's SageMaker XGBoost serving images), each in its own venv
# under .work/aws-xgboost, for tests/model_files/test_aws_model_format.py; kept when there.
aws-xgboost-envs:
	local_test/make_aws_xgboost_envs.sh python3

# Every test on the image's locked versions, the container tests included (and the SDK's own
# local mode, hence the SDK venvs; AWS's XGBoost versions, hence their venvs, required here).
test: venv sdk-venv standins-venv aws-xgboost-envs
	SNOWFLAKE_XGB_REQUIRE_AWS_XGBOOST=1 SNOWFLAKE_XGB_STANDINS_VENV=$(STANDINS_VENV) \
		$(PYTHON) -m pytest -q $(PYTEST_ARGS)

# The tests of what talks to Snowflake through the connector, where the two connector lines
# differ (sign-in, statements and their waits, result reads and chunk downloads, PUT and COPY
# INTO, the public API, secrets at DEBUG, platform detection). The job-level tests read through
# the same code; on the second line too they would take CI past its hour.
CONNECTOR_TESTS = tests/credentials tests/query tests/loading tests/scoring tests/test_api.py \
	tests/test_typed_tables.py tests/test_secrets_never_leak.py tests/test_script_mode.py \
	tests/test_outbound_calls.py

# The README's test command, and what .ci/run calls once the machine is set up: every test on
# the image's locked versions (connector 5.x), then CONNECTOR_TESTS on the newest line
# (connector 4.x). Both lines run even when the first fails; the exit status is the worse.
ci:
	status=0; \
	$(MAKE) test || status=$$?; \
	echo "make test (locked versions, connector 5.x) exited with $$status" >&2; \
	$(MAKE) test-fast $(NEWEST_LINE) PYTEST_ARGS="$(CONNECTOR_TESTS)" || status=$$?; \
	echo "make ci: both lines done, exit status $$status" >&2; \
	exit $$status

# Everything but the container tests.
test-fast: venv standins-venv
	SNOWFLAKE_XGB_STANDINS_VENV=$(STANDINS_VENV) $(PYTHON) -m pytest -q -m "not container" $(PYTEST_ARGS)

# The generated parts of docs/: settings.md (the settings table) and architecture.md's module
# table (snowflake_xgb/__init__.py); tests/test_docs.py fails while they differ.
docs: $(if $(wildcard $(PYTHON)),,venv)
	$(PYTHON) docs/generate.py

# Benchmarks (docs/benchmarks.md); e.g. make bench BENCH_ARGS=--quick
# The serving section's baseline server needs the `bench` extra (flask), never in the image.
bench: venv standins-venv
	$(PYTHON) docker/requirements_from_pyproject.py pyproject.toml --extra bench \
		| $(PYTHON) -m pip install -q -r /dev/stdin
	SNOWFLAKE_XGB_STANDINS_VENV=$(STANDINS_VENV) $(PYTHON) benchmarks/run.py $(BENCH_ARGS)

# Sign-in time with and without the connector's platform detection, on both connector lines
# (benchmarks/signin.py; in a network namespace with no route off the machine).
bench-signin: venv standins-venv
	SNOWFLAKE_XGB_STANDINS_VENV=$(STANDINS_VENV) $(PYTHON) benchmarks/signin.py $(BENCH_ARGS)

# Local job folders, benchmark data, the CA bundle copied for builds, and dangling build stages.
clean:
	-[ ! -d .work/local ] || [ -z "$$(ls .work/local)" ] || python3 local_test/localmode.py down .work/local/*
	rm -rf .work/local .work/bench docker/certs/ca-certificates.crt
	-docker image prune -f --filter label=snowflake-xgb.stage=builder >/dev/null

# Also the images themselves (and the Debian base images).
clean-images: clean
	-docker rmi $(IMAGE)-standins:$(TAG) $(IMAGE):$(TAG) 2>/dev/null
	-docker rmi snowflake-xgb-base:trixie snowflake-xgb-base:trixie-build 2>/dev/null
