# MoldPilot: `make demo` and `make test` work on a fresh clone where only python3 and make exist.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBIAN_DEMO_PACKAGES := mosquitto
DEBIAN_TEST_PACKAGES := $(DEBIAN_DEMO_PACKAGES) mbpoll chromium chromium-driver fonts-nanum
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv test demo bench clean system-packages

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the kit talks to for real, installed only when missing: the demo needs a Mosquitto
# broker; the tests also run mbpoll, a Modbus master that is not ours, against the register server, and
# drive the console in Debian's headless chromium through chromium-driver (selenium), with a Korean font
# (fonts-nanum) so the Korean pages' screenshots show Hangul, not boxes.
DEBIAN_PACKAGES = $(DEBIAN_TEST_PACKAGES)
demo: DEBIAN_PACKAGES = $(DEBIAN_DEMO_PACKAGES)
system-packages:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# Two pytest workers, one test file each at a time (a file's fixtures, its browser and broker stay in
# one process): most tests wait on real time (a replay at the camera's pace, a PLC's rhythm, a child
# process), so two halve the suite's wall time on a 2-core machine; they also load it, as a line does.
test: venv system-packages
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15

# `make demo CONSOLE=1`: the demo with the station console; its URL is printed, Ctrl-C ends it.
demo: venv system-packages
	$(BIN)/moldpilot demo $(if $(CONSOLE),--console)

bench: venv
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache var
