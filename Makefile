# snowflake_xgb: build, push and run the training image.
#
#   make build                  build the training image IMAGE:TAG
#   make push                   push it to Amazon ECR (needs AWS credentials)
#   make local                  run a HOSTS-host job locally against seeded stand-ins
#   make local-serve            the same, then serve the model from the image and predict
#   make sdk-venv               venvs with the SageMaker Python SDK v3 and v2 for their tests
#   make venv                   create or refresh .venv: the project on the image's locked versions
#   make test                   run every test, container tests included (makes .venv itself)
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
.PHONY: clean-images local-serve sdk-venv standins-venv venv lock

help:
	@sed -n '2,13p' Makefile | sed 's/^# \{0,1\}//'

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

# The README's test command: every test, the container tests included (and the SDK's own local
# mode, hence the SDK venvs).
test: venv sdk-venv standins-venv
	SNOWFLAKE_XGB_STANDINS_VENV=$(STANDINS_VENV) $(PYTHON) -m pytest -q $(PYTEST_ARGS)

# Everything but the container tests.
test-fast: venv standins-venv
	SNOWFLAKE_XGB_STANDINS_VENV=$(STANDINS_VENV) $(PYTHON) -m pytest -q -m "not container" $(PYTEST_ARGS)

# Benchmarks (docs/benchmarks.md); e.g. make bench BENCH_ARGS=--quick
bench: venv standins-venv
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
