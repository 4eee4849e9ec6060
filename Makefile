# phasefit: `make demo` and `make test` are the whole set-up. Both create .venv when it is missing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Find Python >= 3.12: python3.13 / python3.12 on PATH (pyenv shims fail unless a version is
# selected, so each candidate is *run*), else the newest installed pyenv version.
define find_python
for c in python3.13 python3.12 python3; do \
  if $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then command -v $$c; exit 0; fi; \
done; \
root=$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv); \
for v in $$(ls -d $$root/versions/3.1[2-9]* 2>/dev/null | sort -rV); do \
  if $$v/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then echo $$v/bin/python3; exit 0; fi; \
done; \
echo "no Python >= 3.12 found (install one, e.g. 'pyenv install 3.12')" >&2; exit 1
endef

.PHONY: venv demo test test-slow lint typecheck bench bench-accuracy bench-point-fits bench-mirage bench-end-to-end bench-thousand bench-scale bench-corpus chromium clean

$(STAMP): pyproject.toml
	@PYBIN=$$( $(find_python) ) || exit 1; \
	if [ ! -x $(PY) ]; then echo "creating $(VENV) with $$PYBIN"; $$PYBIN -m venv $(VENV) || exit 1; fi
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/phasefit demo

# the report's browser test needs headless Chromium: installed from apt when missing (root or sudo);
# `env` makes the assignment work also when SUDO is empty (as root a leading expansion is the command)
APT_CHROMIUM := env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
chromium:
	@for c in chromium chromium-browser google-chrome; do command -v $$c >/dev/null 2>&1 && exit 0; done; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	else echo "Chromium is missing and apt needs root: install the 'chromium' package" >&2; exit 1; fi; \
	echo "installing Chromium (apt) for the report's browser test"; \
	$$SUDO $(APT_CHROMIUM) >/dev/null || { $$SUDO apt-get update -q >/dev/null && $$SUDO $(APT_CHROMIUM) >/dev/null; }

test: $(STAMP) chromium
	PHASEFIT_REQUIRE_BROWSER=1 $(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# ruff (style, imports), import-linter (the layer arrows of ARCHITECTURE.md), mypy (make typecheck)
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts
	$(VENV)/bin/lint-imports
	@$(MAKE) --no-print-directory typecheck

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/compile_once.py

bench-accuracy: $(STAMP)
	$(PY) benchmarks/accuracy.py
	$(PY) benchmarks/population_speed.py

# least-squares sigmoid, broken line and BIG-bench breakthroughness on the accuracy suite (~3 min)
bench-point-fits: $(STAMP)
	$(PY) benchmarks/point_fits.py

bench-mirage: $(STAMP)
	$(PY) benchmarks/mirage.py

# phasefit fit vs the naive pm.sample loop on 100 simulated curves, end to end (~30 min on 2 cores)
bench-end-to-end: $(STAMP)
	$(PY) benchmarks/end_to_end.py

# 1,000 simulated curves with `phasefit fit`, measured start to finish (~10 min on 2 cores)
bench-thousand: $(STAMP)
	$(PY) benchmarks/thousand.py

# memory and time of the client's side of a run at 10 to 10,000 curves (~45 min on 2 cores), beside
# SCALE_BEFORE: the last commit that kept every curve's draws in memory
SCALE_BEFORE ?= 77e2ba5
bench-scale: $(STAMP)
	rm -rf /tmp/phasefit-scale-before && mkdir -p /tmp/phasefit-scale-before
	git archive $(SCALE_BEFORE) src | tar -x -C /tmp/phasefit-scale-before
	$(PY) benchmarks/scale.py --before-src /tmp/phasefit-scale-before/src

# every bundled table end to end (several hours on 2 cores): a 2-hour sitting, resumed by the next
bench-corpus: $(STAMP)
	$(PY) benchmarks/corpus.py --budget-min 120

# two git revisions end to end on the same real curves, side by side in one sitting (~15 min on 2 cores)
AB_OLD ?= d5171b4
AB_NEW ?= HEAD
bench-code-ab: $(STAMP)
	$(PY) benchmarks/code_ab.py --old $(AB_OLD) --new $(AB_NEW)

.PHONY: bench-intervention
bench-intervention: $(STAMP)
	$(PY) benchmarks/intervention.py --jobs 2

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
