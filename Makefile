# Two commands for a fresh machine: `make install`, then `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3

.PHONY: install test lint typecheck completions clean sysdeps

# libmagic is a system library (python-magic loads it at run time); install it
# with apt when it is missing and we are allowed to.
sysdeps:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1'; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq libmagic1; \
	  else \
	    echo "libmagic is missing: install it (Debian/Ubuntu: apt-get install libmagic1; macOS: brew install libmagic)" >&2; exit 1; \
	  fi; \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

install: sysdeps $(PY)
	$(PIP) install -q -e '.[all]'
	@echo "installed: $(VENV)/bin/kimi-vision (activate with: . $(VENV)/bin/activate)"

test: install
	$(PIP) install -q -e '.[all,test]'
	$(PY) -m pytest -q

lint: install
	$(PIP) install -q -e '.[test]'
	$(VENV)/bin/ruff check kimi_vision_cli tests benchmarks
	$(VENV)/bin/mypy kimi_vision_cli

completions: install
	$(PY) -m kimi_vision_cli.completion_gen completions

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
