# Two commands for a fresh machine: `make install`, then `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PYTHON ?= python3
LINT_PATHS := kimi_vision_cli tests benchmarks

# Stamps: pip runs again only when what it installs from has changed (the version
# is read from kimi_vision_cli/__init__.py). `make clean` removes them with the venv.
INSTALLED := $(VENV)/.installed
TEST_DEPS := $(VENV)/.test-deps
DEV_DEPS := $(VENV)/.dev-deps

.PHONY: install test lint bench completions docs settings clean sysdeps test-sysdeps

# The system packages below share one shape, `need`: when CHECK fails, install PACKAGE with
# apt-get as root, or through sudo when it asks no password (-n: make never waits on a
# prompt); else say MESSAGE on stderr, and fail when it is REQUIRED (else only warn). A
# tool already there costs nothing. A failed apt-get fails make, as does a package that
# installed without making CHECK pass.
#   $(call need,CHECK,PACKAGE,MESSAGE,REQUIRED)   (no commas inside an argument)
define need
if ! { $(1); } >/dev/null 2>&1; then \
  if ! command -v apt-get >/dev/null 2>&1; then as=no; \
  elif [ "$$(id -u)" = 0 ]; then as=; \
  elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then as="sudo -n"; \
  else as=no; fi; \
  if [ "$$as" != no ]; then \
    echo "installing $(2) with apt-get$${as:+ (through sudo)}" >&2; \
    $$as apt-get update -qq && $$as env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) && \
    { { $(1); } >/dev/null 2>&1 || { echo "apt-get installed $(2) but it is still missing" >&2; exit 1; }; }; \
  else \
    echo "$(3)" >&2; $(if $(4),exit 1,true); \
  fi; \
fi
endef

# libmagic is a system library (python-magic loads it at run time).
# ExifTool writes XMP sidecars and --embed (docs/metadata.md says why); the tool runs
# without it (those two refuse, saying how to install it), so its absence only warns.
sysdeps:
	@$(call need,ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1',libmagic1,libmagic is missing: install it (Debian/Ubuntu: apt-get install libmagic1; macOS: brew install libmagic),required)
	@$(call need,command -v exiftool,libimage-exiftool-perl,exiftool is missing: --sidecar xmp and --embed need it (Debian/Ubuntu: apt-get install libimage-exiftool-perl; macOS: brew install exiftool))

# Debian's chromium opens the report page in tests/test_report_browser.py, and jq runs in
# the docs' shell examples (tests/test_docs_run.py); only the tests need them, and without
# them those tests are skipped (the doc blocks left out), saying why.
test-sysdeps:
	@$(call need,command -v chromium,chromium,chromium is missing: the report's browser tests will be skipped (Debian/Ubuntu: apt-get install chromium))
	@$(call need,command -v jq,jq,jq is missing: the docs' examples that use it will not be run (Debian/Ubuntu: apt-get install jq))

# pip >= 25.1 reads [dependency-groups] (PEP 735) with `pip install --group`. Debian's
# python3 makes no venv without its python3-venv package (ensurepip): installed with apt
# (`need`), like the system libraries above. `make lint` comes here without `sysdeps`.
$(PY):
	@$(call need,$(PYTHON) -c 'import ensurepip',python3-venv,$(PYTHON) cannot make a venv with pip: install its venv module (Debian/Ubuntu: apt-get install python3-venv),required)
	$(PYTHON) -m venv $(VENV) && $(PIP) install -q --upgrade 'pip>=25.1' || { rm -rf $(VENV); exit 1; }

$(INSTALLED): pyproject.toml kimi_vision_cli/__init__.py | $(PY)
	$(PIP) install -q -e '.[all]'
	@touch $@

$(TEST_DEPS): pyproject.toml | $(INSTALLED)
	$(PIP) install -q --group test
	@touch $@

$(DEV_DEPS): pyproject.toml | $(INSTALLED)
	$(PIP) install -q --group dev
	@touch $@

install: sysdeps $(INSTALLED)
	@echo "installed: $(VENV)/bin/kimi-vision (activate with: . $(VENV)/bin/activate)"

# One pytest-xdist worker more than the cores: many tests wait on the loopback server's
# latency or on a child process, so a core has idle time to fill; each worker starts its
# own servers (moto, the loopback API), so more workers cost CPU too. On the 2-core
# machine, 1,451 tests: -n 2 189 s; -n 4 163 s and 195 s; -n 3 168 s (runs vary ~15%).
WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: install $(TEST_DEPS) test-sysdeps
	$(PY) -m pytest -q -n $(WORKERS)

# All three run even when one fails; the target fails if any did.
lint: $(INSTALLED) $(DEV_DEPS)
	@status=0; \
	for cmd in "ruff check $(LINT_PATHS)" "ruff format --check $(LINT_PATHS)" "mypy kimi_vision_cli"; do \
	  echo "$(VENV)/bin/$$cmd"; $(VENV)/bin/$$cmd || status=1; \
	done; \
	exit $$status

# The issue-12 table first (benchmarks/perf.py; PERF_ARGS="--rows prepare prune --llm PATH"),
# then many inputs (benchmarks/batch.py; BENCH_ARGS="--sizes 100 --latency 0.2 -j 4", by
# default 100 and 10,000 inputs).
bench: install
	$(PY) benchmarks/perf.py $(PERF_ARGS)
	$(PY) benchmarks/batch.py $(BENCH_ARGS)

completions: install
	$(PY) -m kimi_vision_cli.cli.completion_gen completions

# The option tables of docs/options.md, from the live commands (tests/test_docs.py fails
# when the page differs from what this writes).
docs: install
	$(PY) -m kimi_vision_cli.cli.docs_gen docs/options.md

# kimi_vision_cli/settings_types.py (the typed groups of Settings, the choices as Literal
# types, each command's arguments), from the option table (tests/test_settings_types.py
# fails when the module differs from what this writes).
settings: install
	$(PY) -m kimi_vision_cli.cli.settings_gen kimi_vision_cli/settings_types.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
