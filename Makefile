# Every target bootstraps .venv from pyproject.toml; it reinstalls only when pyproject.toml changed.
PYTHON ?= python3
PORT ?= 8000
DIST ?= dist
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test test-laboratory check lint site release publish rehearsal new-runbook backend drill gameday bench bench-quick soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[site,bench,test]'
	touch $(STAMP)

export NO_MKDOCS_2_WARNING := 1

serve: $(STAMP)  ## the site on http://127.0.0.1:$(PORT) (PORT=8000), reloading on edits; errors shown, not fatal
	HANDBOOK_FAIL_ON_ERROR=false $(BIN)/python -m mkdocs serve --no-strict --dev-addr 127.0.0.1:$(PORT)

site: $(STAMP)  ## build the static site into site/
	$(BIN)/python -m mkdocs build --strict

release: $(STAMP)  ## the release wheel a production host installs (docs/deployment.md) into dist/
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation --wheel-dir $(DIST) .

publish: $(STAMP)  ## prove every page, then build the site and the offline bundle from that run into dist/
	./scripts/install-system-tools.sh
	$(BIN)/python -m scripts.publish $(if $(HANDBOOK_SITE_URL),--site-url $(HANDBOOK_SITE_URL)) $(if $(HANDBOOK_PROOF),--proof $(HANDBOOK_PROOF)) --out $(DIST)

# make test in three steps. First the proof: every page's blocks and every runbook's laboratory game
# day (the rehearsal publishes the site from it). Then the rest of the laboratory and the production
# rehearsal side by side: the rehearsal mostly waits on its host's Prometheus, and they share no
# port, file or process (--output-sync prints each one's report whole, when it ends). Last, the
# publish tests, on the proof and the rehearsal's rows (the pages' notices show them), in a session
# of their own so that they take that proof instead of proving every page a second time.
PROOF_TESTS := docs runbooks tests/gameday

test: $(STAMP) lint  ## every test: the tidiness tools, backend, checks, pages, the site, the production rehearsal
	./scripts/install-system-tools.sh
	$(BIN)/python -m pytest $(PROOF_TESTS)
	$(MAKE) --no-print-directory -j2 --output-sync=target test-laboratory rehearsal
	HANDBOOK_PROOF=results/test-runs.json $(BIN)/python -m pytest tests/publish

test-laboratory: $(STAMP)  # part of make test: everything but the proof, the rehearsal and publishing
	$(BIN)/python -m pytest tests $(addprefix --ignore=,tests/publish tests/rehearsal tests/gameday)

rehearsal: $(STAMP)  ## a production host built from the guides, every rehearsed runbook met there from its alert (root)
	./scripts/install-system-tools.sh
	HANDBOOK_PROOF=results/test-runs.json $(BIN)/python -m pytest tests/rehearsal

lint: $(STAMP)  ## ruff (format and lint, 120 columns) and mypy (strict on backend, checks, pages)
	$(BIN)/ruff format --check --quiet .
	$(BIN)/ruff check --quiet .
	$(BIN)/mypy

# The pages changed since the last commit (staged, unstaged or new), for `make check`.
CHANGED_PAGES = $(shell git status --porcelain --untracked-files=all -- docs runbooks | awk '{print $$NF}' | grep '\.md$$')

check: lint  ## the author's loop (under a minute): tidiness, the runbook lint, the strict build, the changed pages' blocks
	$(BIN)/python -m docsite.lint
	$(BIN)/python -m mkdocs build --strict --quiet --site-dir $(or $(TMPDIR),/tmp)/handbook-check-site
	$(if $(strip $(CHANGED_PAGES)),$(BIN)/python -m pytest -q -p no:cacheprovider $(CHANGED_PAGES),@echo "no page changed since the last commit: no page blocks to run")

new-runbook: $(STAMP)  ## a new alert's page, limit and nav entry: make new-runbook ALERT=DataDiskAlmostFull [KEY=host.disk_free_ratio]
	$(BIN)/python -m scripts.new_runbook $(or $(ALERT),$(error give ALERT=CamelCaseName)) $(if $(KEY),--key $(KEY)) $(if $(SLUG),--slug $(SLUG))

backend: $(STAMP)  ## the supervised backend in the foreground (BACKEND_* variables honoured)
	$(BIN)/backend supervise

drill: $(STAMP)  ## the fault drills (one instance, and three behind nginx) against live backends; writes results/recovery.json
	./scripts/install-system-tools.sh
	$(BIN)/python -m scripts.drill

gameday: $(STAMP)  ## one page's game days: make gameday PAGE=runbooks/backend-down.md [FAULT=hung-server]
	./scripts/install-system-tools.sh
	$(BIN)/python -m scripts.gameday $(or $(PAGE),$(error give PAGE=runbooks/NAME.md)) $(if $(FAULT),--fault $(FAULT))

bench: $(STAMP)  ## the full benchmark suite (about 30 minutes); writes results/baselines.json
	./scripts/install-system-tools.sh
	$(BIN)/python -m scripts.bench

bench-quick: $(STAMP)  ## small sizes (under 2 minutes); compares with the committed baselines
	./scripts/install-system-tools.sh
	$(BIN)/python -m scripts.bench --quick

soak: $(STAMP)  ## the memory soak, compressed; HOURS=8 runs the plan's 8 hours and writes results/soak.json
	./scripts/install-system-tools.sh
	$(BIN)/python -m scripts.bench.soak $(if $(HOURS),--hours $(HOURS))

clean:
	rm -rf $(VENV) site dist .pytest_cache
