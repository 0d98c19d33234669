# The two commands of the README: `make run` and `make test`. Everything they need is
# installed by the targets below (a virtualenv, npm packages, Java if missing).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test setup lint unit bench user import clean kube-bin frontend .system-packages

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

.system-packages:
	bash scripts/ensure-system-packages.sh

setup: .system-packages $(VENV)/.installed node_modules/.installed

## Run the service on http://127.0.0.1:8090 (pass options with ARGS="--frontend ../frontend/build").
run: setup
	$(PY) -m chalicelib.local $(ARGS)

## Create a user for the local run: make user EMAIL=you@example.com NAME="You"
## (password from ONECLICK_PASSWORD, else a prompt on a terminal; while `make run` runs,
## also with --in-memory, the user goes into the running server's database).
user: setup
	@test -n "$(EMAIL)" || { echo 'usage: make user EMAIL=you@example.com NAME="You"' >&2; exit 2; }
	$(PY) -m chalicelib.local create-user --email "$(EMAIL)" --name "$(NAME)"

## Load an existing One-Click PocketBase into the local run: make import PB_DATA=path/to/pb_data
## (ARGS=--dry-run only reports). On AWS: python -m chalicelib.importer --pb-data PATH
import: setup
	$(PY) -m chalicelib.local import --pb-data "$(PB_DATA)" $(ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

## The Kubernetes control plane for the cluster tests and `--cluster`, built from Go modules
## into .cache/kube-bin (about 7 minutes the first time, then a no-op).
kube-bin:
	bash tools/kube/build.sh

## The unchanged One-Click frontend, built once per source version (about 3 minutes, then
## a no-op; kept in ~/.cache/one-click-serverless/frontend, linked at .cache/frontend-build).
frontend: setup
	bash scripts/build-frontend.sh

## Every test tier: unit and functional (moto), DynamoDB Local, the PocketBase reference,
## the JS SDK contract tests against the local server, the real Kubernetes control plane,
## the unchanged frontend in headless chromium.
test: lint kube-bin frontend
	$(PY) -m pytest $(PYTEST_ARGS)

unit: setup
	$(PY) -m pytest tests/unit tests/functional -m "not dynamodb_local" $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/vs_pocketbase.py
	$(PY) benchmarks/cold_import.py
	$(PY) benchmarks/round_trips.py
	$(PY) benchmarks/auto_update_tick.py
	$(PY) benchmarks/tag_policies.py
	$(PY) benchmarks/oauth2_sign_in.py
	$(PY) benchmarks/bundle.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache

## Build a stage's deployable template and Lambda bundle into dist/STAGE: make package STAGE=dev
## (needs PyPI for Lambda's wheels and nothing from AWS; see README "Deploy to AWS").
.PHONY: package
STAGE ?= dev
package: setup
	$(PY) -m infra.package $(STAGE)
