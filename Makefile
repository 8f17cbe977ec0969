# scratchnn — every target installs what it needs first (`setup`), so a fresh clone needs no manual step.
# `make help` lists the targets; the text after `##` on a target line is its help.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.DEFAULT_GOAL := help
PORT   ?=
FORCE  ?=
RUN    ?=
SWEEP_FORCE := $(if $(filter 1 true yes,$(FORCE)),force=true,)
QUICK  ?=
# pytest-xdist: test files spread over this many processes, each file whole in one of them
# (its module fixtures, e.g. a server or a Ray cluster, started once).
TEST_WORKERS ?= 2
PARALLEL := $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile,)
BENCH_FLAGS := $(if $(filter 1 true yes,$(QUICK)),--quick,)
BENCHMARKS := limit job data train numerical tracking sweep pieces features figures
LAUNCHER ?= joblib
SWEEP  ?= default
STORE_URI ?=
# The optional extra (pyproject.toml) a launcher needs, installed into .venv on first use.
EXTRA_ray := ray
EXTRA_submitit_local := slurm
EXTRA_submitit_slurm := slurm
LAUNCHER_EXTRA := $(if $(EXTRA_$(LAUNCHER)),$(VENV)/.installed-$(EXTRA_$(LAUNCHER)),)
# A server whose store is PostgreSQL needs the driver, one with AUTH=1 MLflow's auth app's
# Flask-WTF: both in the `team` extra.
AUTH ?=
AUTH_FLAG := $(if $(filter 1 true yes,$(AUTH)),--auth,)
STORE_EXTRA := $(if $(or $(filter postgresql%,$(STORE_URI)),$(AUTH_FLAG)),$(VENV)/.installed-team,)
.PHONY: help setup postgres chromium test test-fast lint data train sweep sweep-gd sweep-h ui ui-shot rerun bench search server serve sync

# $(call debian,PACKAGE,TEST,USER): when the command TEST fails, apt-get installs Debian's PACKAGE
# (as root), else one line says how; USER is what needs it (and skips without it).
define debian
	@$(2) >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian's $(1) (for $(3))"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
		else \
			echo "$(1) is not installed: sudo apt-get install $(1) ($(3) skips without it)"; \
		fi; }
endef

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(VENV)/.installed-%: pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[$*]'
	@touch $@

setup: $(STAMP) ## create .venv and install the project with dev extras (idempotent, fast when nothing changed)

EXTRAS := $(VENV)/.installed-ray $(VENV)/.installed-slurm $(VENV)/.installed-optuna $(VENV)/.installed-team \
	$(VENV)/.installed-shot

postgres: ## Debian's PostgreSQL server binaries, for the team tests (each starts its own); apt-get installs them when missing and run as root
	$(call debian,postgresql,ls /usr/lib/postgresql/*/bin/initdb,tests/test_team.py)

chromium: ## Debian's headless Chromium, for tests/test_ui_browser.py and `make ui-shot`; apt-get installs it when missing and run as root
	$(call debian,chromium,command -v chromium,tests/test_ui_browser.py)

test: setup $(EXTRAS) postgres chromium ## run the whole test suite with the optional engines installed (what CI runs); TEST_WORKERS=1: one file at a time
	$(BIN)/python -m pytest $(PARALLEL) $(ARGS)

test-fast: setup ## run the tests except those marked slow
	$(BIN)/python -m pytest $(PARALLEL) -m "not slow" $(ARGS)

bench: setup ## every benchmark in tests/benchmarks, figures and ratios printed (QUICK=1: short)
	@for name in $(BENCHMARKS); do \
		echo "== tests/benchmarks/bench_$$name.py $(BENCH_FLAGS)"; \
		$(BIN)/python tests/benchmarks/bench_$$name.py $(BENCH_FLAGS) || exit 1; \
	done

lint: setup ## check the code with ruff
	$(BIN)/ruff check scratchnn pipeline tests
	$(BIN)/ruff format --check scratchnn pipeline tests

data: setup ## fetch and verify the full MNIST into the user cache (first use does it anyway); ARGS=--data-dir DIR
	$(BIN)/python -m pipeline.tools.data $(ARGS)

train: setup ## one run: make train ARGS='train.lr=0.5 model.hidden_size=100'
	$(BIN)/python -m pipeline $(ARGS)

sweep: setup $(LAUNCHER_EXTRA) ## the default sweep (lr x batch size x hidden size) in parallel; skips finished jobs unless FORCE=1; LAUNCHER=ray|submitit_local|submitit_slurm; SWEEP=<conf/sweep/ name>
	$(BIN)/python -m pipeline --multirun sweep=$(SWEEP) launcher=$(LAUNCHER) $(SWEEP_FORCE) $(ARGS)

search: setup $(VENV)/.installed-optuna $(LAUNCHER_EXTRA) ## Bayesian search (Optuna TPE, seeded) over lr, batch and hidden size for the best validation accuracy
	$(BIN)/python -m pipeline --multirun search=default launcher=$(LAUNCHER) $(SWEEP_FORCE) $(ARGS)

sweep-gd: setup ## the notebook's gradient-descent experiment at lr 0.1, 10.0 and 1e-10
	$(BIN)/python -m pipeline --multirun sweep=gradient_descent $(ARGS)

sweep-h: setup ## the notebook's numerical derivative at h = 1e-1 .. 1e-50: forward/central x float64/float32 x x=5,10
	$(BIN)/python -m pipeline --multirun sweep=numerical_diff $(ARGS)

rerun: setup ## rerun a tracked run and compare it point by point: make rerun RUN=<run id>
	@test -n "$(RUN)" || { echo "usage: make rerun RUN=<mlflow run id>" >&2; exit 2; }
	$(BIN)/python -m pipeline.tools.rerun $(RUN) $(ARGS)

server: setup $(STORE_EXTRA) ## an MLflow tracking server on 127.0.0.1 (PORT=5000) for runs and sweeps; SQLite in outputs/server/ unless STORE_URI=<SQLAlchemy URI> (postgresql+psycopg://...); AUTH=1: users and passwords (SCRATCHNN_ADMIN_PASSWORD), needed for a host other than loopback
	$(BIN)/python -m pipeline.tools.server $(if $(PORT),--port $(PORT)) $(if $(STORE_URI),--backend-store-uri '$(STORE_URI)') $(AUTH_FLAG) $(ARGS)

sync: setup ## send a tracking server the runs (and sweep ends) an outage left in outputs/spool/; twice changes nothing
	$(BIN)/python -m pipeline.tools.sync $(ARGS)

ui: setup ## the MLflow UI on 127.0.0.1 (PORT=5000) on the project's store; prints the links (full-MNIST runs; ARGS='--data synthetic')
	$(BIN)/python -m pipeline.tools.ui $(if $(PORT),--port $(PORT)) $(ARGS)

ui-shot: setup $(VENV)/.installed-shot chromium ## the README's picture of the UI, docs/images/mlflow-ui.png, taken by headless Chromium from the project's store; ARGS='--page sweep --out F.png'
	$(BIN)/python -m tests.dev.ui_shot $(ARGS)

serve: setup ## serve a run's model on 127.0.0.1 (PORT=5001): make serve RUN=<run id>; without RUN the best run of the newest sweep on the full MNIST
	$(BIN)/python -m pipeline.tools.serve $(if $(RUN),--run $(RUN)) $(if $(PORT),--port $(PORT)) $(ARGS)
