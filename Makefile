# Two commands matter: `make run` serves Treadle, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
# A second environment holding the previous generation of the openai SDK (client.beta.*),
# so the end-to-end suite proves both generations against the same server. It sees the
# app's environment through a .pth file and holds only that SDK (and its httpx) itself.
SDK1_VENV := .venv-sdk1
SDK1_VERSION := 1.65.5
PYTEST_WORKERS ?= 2
# How long `make fuzz` lets schemathesis drive the server.
FUZZ_SECONDS ?= 120

.PHONY: install run sandbox migrate flower lint test test-sdk3 test-sdk1 fuzz bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

$(SDK1_VENV)/.installed: $(VENV)/.installed
	rm -rf $(SDK1_VENV)
	$(PYTHON) -m venv $(SDK1_VENV)
	echo "import site; site.addsitedir('$$($(VENV)/bin/python -c \
		"import sysconfig; print(sysconfig.get_paths()['purelib'])")')" \
		> "$$($(SDK1_VENV)/bin/python -c \
		"import sysconfig; print(sysconfig.get_paths()['purelib'])")/treadle-app.pth"
	$(SDK1_VENV)/bin/pip install --quiet 'openai==$(SDK1_VERSION)'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/treadle up

# Root only: bubblewrap, a Docker engine and the sandbox's Debian root and image.
sandbox:
	deploy/sandbox/prepare.sh

migrate: install
	$(VENV)/bin/treadle migrate

flower: install
	$(VENV)/bin/treadle flower

lint: install
	$(VENV)/bin/ruff check api shared workers sandbox tests bench
	$(VENV)/bin/mypy api shared workers sandbox

test: lint test-sdk3 test-sdk1

# loadgroup: the tests that load the whole machine (hundreds of runs or streams at once) share
# the xdist group "machine", so no two of them run at the same time.
test-sdk3: install
	@test -x /usr/bin/chromium || echo "tests/console: SKIPPED, no /usr/bin/chromium" \
		"(apt-get install chromium)"
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadgroup -rs tests --ignore=tests/fuzz

test-sdk1: install $(SDK1_VENV)/.installed
	TREADLE_TEST_SERVER_PYTHON=$(CURDIR)/$(VENV)/bin/python \
		$(SDK1_VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup tests/e2e

# schemathesis drives a running server from OpenAI's spec (tests/spec) for FUZZ_SECONDS: a
# bounded step of its own in `.ci/run`, so `make test` leaves it out.
fuzz: install
	TREADLE_FUZZ_SECONDS=$(FUZZ_SECONDS) $(VENV)/bin/pytest tests/fuzz

bench: install
	$(VENV)/bin/python bench/rest.py
	$(VENV)/bin/python bench/runs.py
	$(VENV)/bin/python bench/concurrency.py
	$(VENV)/bin/python bench/search.py
	$(VENV)/bin/python bench/ingest.py
	$(VENV)/bin/python bench/embed.py
	$(VENV)/bin/python bench/sandbox.py
	$(VENV)/bin/python bench/streams.py
	$(VENV)/bin/python bench/connections.py
	$(VENV)/bin/python bench/chaos.py
