# What is a Kubernetes Endpoint, Anyway? -- every entry point of the project.
# Quick start: `make lab` (set up, open the chapters) and `make test` (set up, lint, test).
# Setup is a prerequisite of both, so a fresh clone needs only Python 3.11+, make and git.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Rebuilt whenever pyproject.toml changes, so `git pull` + `make test` picks up new dependencies.
STAMP := $(VENV)/.setup-stamp
KERNEL := endpoints
CLUSTER := endpoints
KIND_CONFIG ?= kind-cluster.yaml
# the e2e image the chapters run; keep equal to helpers/config.py AGNHOST_IMAGE
AGNHOST_IMAGE := registry.k8s.io/e2e-test-images/agnhost:2.66.1
KIND_WAIT ?= 180s
# Extra JupyterLab arguments, e.g. make lab LAB_ARGS="--no-browser --port 8899"
LAB_ARGS ?=
# JupyterLab refuses to run as root unless told; containers and CI machines often are root.
ROOT_ARGS := $(if $(filter 0,$(shell id -u)),--allow-root)
PYTEST_ARGS ?=

.PHONY: help setup lab test strip doctor cluster cluster-down sim sim-stop sim-status bench upstream fidelity clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv, install the project and register the Jupyter kernel

$(STAMP): pyproject.toml
	@out=$$($(PYTHON) -c 'import sys; v = sys.version_info; print("%d.%d" % v[:2], "ok" if v >= (3, 11) else "old")' 2>/dev/null) \
	  || { echo "error: '$(PYTHON)' did not run; install Python 3.11+ or pass make PYTHON=/path/to/python3.11" >&2; exit 1; }; \
	  case "$$out" in *ok) ;; *) echo "error: $(PYTHON) is Python $${out% *}; this project needs Python 3.11 or newer (make PYTHON=python3.12 ...)" >&2; exit 1;; esac
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (endpoints)"
	touch $@

lab: setup ## set up, then open the chapters in JupyterLab with the project kernel
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --MappingKernelManager.default_kernel_name=$(KERNEL) $(ROOT_ARGS) $(LAB_ARGS)

# Directories ruff lints; wildcard drops any a checkout lacks (git does not keep empty ones).
LINT_DIRS := $(wildcard helpers tests benchmarks scripts notebooks/src)

test: setup ## set up, lint (ruff) and run the whole test suite
	$(BIN)/ruff check $(LINT_DIRS)
	@$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests (exit code 5); the suite must not pass empty" >&2; fi; \
	  exit $$rc

strip: setup ## remove outputs and execution counts from notebooks/
	$(BIN)/python scripts/strip_notebooks.py notebooks

doctor: setup ## check the tools both backends need (kind-only checks only warn)
	$(BIN)/python -m helpers.doctor

cluster: ## create the kind cluster (KIND_CONFIG=kind/<variant>.yaml for a variant)
	@command -v kind >/dev/null || { echo "error: kind not found; run 'make doctor' for install hints, or use the simulator: make sim" >&2; exit 1; }
	kind create cluster --name $(CLUSTER) --config $(KIND_CONFIG) --wait $(KIND_WAIT)
	@# The chapters' workloads run agnhost: pull it once, load it into every node (no pulls in a workshop).
	docker image inspect $(AGNHOST_IMAGE) >/dev/null 2>&1 || docker pull $(AGNHOST_IMAGE)
	kind load docker-image $(AGNHOST_IMAGE) --name $(CLUSTER)

cluster-down: ## delete the kind cluster
	@command -v kind >/dev/null || { echo "error: kind not found; nothing to delete" >&2; exit 1; }
	kind delete cluster --name $(CLUSTER)

sim: setup ## start the simulated cluster in the background (context sim-endpoints)
	$(BIN)/python -m helpers.sim start

sim-stop: setup ## stop the background simulator
	$(BIN)/python -m helpers.sim stop

sim-status: setup ## show whether the simulator runs, and where
	$(BIN)/python -m helpers.sim status

bench: setup ## run every benchmarks/bench_*.py and print its figures, then issue 16's targets together
	@set -e; summary=$$(mktemp); trap 'rm -f "$$summary"' EXIT; \
	  for script in $(sort $(wildcard benchmarks/bench_*.py)); do \
	  echo "== $$script"; BENCH_SUMMARY="$$summary" $(BIN)/python $$script; done; \
	  echo "== issue 16 targets (figure / target / met?)"; cat "$$summary"

# Only the oracle tests (tests/test_oracle_*.py) use these; readers never need them. Needs Go and the
# Go module proxy; cached under .state/upstream/<version>/ (see README, "The upstream oracle").
upstream: setup ## build etcd, kube-apiserver, kube-controller-manager, kube-proxy (node image version)
	$(BIN)/python scripts/build_upstream.py

# One pytest run per oracle area (each ends with its own "N passed, M xfailed" and lists failures), then the benchmark's
# per-area agreement counts and disagreements. Exits non-zero if any area disagrees.
fidelity: setup ## run the upstream-oracle tests and benchmarks/bench_fidelity.py, per-area agreement
	@status=0; for area in $(sort $(wildcard tests/test_oracle_*.py)); do \
	  echo "== $$area"; $(BIN)/python -m pytest $$area -q -rfE -p no:cacheprovider $(PYTEST_ARGS) \
	    || status=1; done; \
	echo "== benchmarks/bench_fidelity.py"; $(BIN)/python benchmarks/bench_fidelity.py || status=1; \
	exit $$status

clean: ## remove caches and build leftovers (keeps .venv and .state)
	rm -rf build .pytest_cache .ruff_cache .benchmarks *.egg-info
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print0 | xargs -0 rm -rf

.PHONY: book slides

book: setup ## execute every chapter (default backend) and render the HTML book into build/book/
	$(BIN)/python scripts/build_book.py

# reveal.js, require.js and jQuery come from the npm registry once (cached in .state/vendor/).
slides: setup ## reveal.js slides per chapter into build/slides/, working offline
	$(BIN)/python scripts/build_slides.py
