# IntroCoach: `make run` to start, `make test` to run the whole suite.
# `make help` lists every target.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    ?= .venv
PY      := $(VENV)/bin/python
RASA    := $(VENV)/bin/rasa
STAMP   := $(VENV)/.installed
VENDOR  := node_modules/.installed
PYTEST  := $(PY) -m pytest
export TF_CPP_MIN_LOG_LEVEL ?= 2
# Rasa phones home unless told not to; nothing may leave this machine.
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONWARNINGS ?= ignore::DeprecationWarning
# endpoints.yml needs these even when no action server is called (rasa test).
WITH_ENV := $(PY) -m introcoach.envrun

.PHONY: help install browser-deps run run-scaled web users shell chat train validate lint types test test-unit test-stories test-integration test-browser transcripts bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.lock pyproject.toml
	@py=$$(scripts/find-python.sh) || exit 1; \
	if [ ! -x "$(PY)" ]; then echo "Creating $(VENV) with $$py"; "$$py" -m venv "$(VENV)"; fi
	$(PY) -m pip install --quiet --disable-pip-version-check "pip==24.0" "wheel==0.45.1"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# The chat widget's one browser library (socket.io-client), pinned in
# package-lock.json and served by the web app: never from a CDN.
$(VENDOR): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the chat widget's socket.io-client (Debian: apt-get install npm)"; exit 1; }
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

install: $(STAMP) $(VENDOR) ## Create .venv (Python 3.10), install the pinned Python and npm packages

browser-deps: ## Debian's chromium for the browser tests (apt-get, as root)
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "Could not install chromium: the browser tests will be skipped."; \
	else echo "No /usr/bin/chromium (install it with: sudo apt-get install chromium); browser tests will be skipped."; fi

train: install ## Train the Rasa model, unless one matches config, domain and data
	@$(PY) -m introcoach.model

run: install ## Set everything up; start the action server, the Rasa server and the web app
	@$(PY) -m introcoach.stack

run-scaled: install ## 2 Rasa + 2 action servers behind balancers, on PostgreSQL and Redis
	@$(PY) -m introcoach.scaled

web: install ## Only the supervisor review web app (http://127.0.0.1:8000)
	@$(PY) -m introcoach web

users: install ## Add a user: make users ARGS="add --role supervisor --username sam"
	@$(PY) -m introcoach users $(ARGS)

chat: install ## Chat with a persona in the terminal (needs `make run` running)
	@$(PY) -m introcoach.chat $(if $(PERSONA),--persona $(PERSONA))

shell: train ## Rasa's shell on its own port (needs `make run` for the actions)
	@$(WITH_ENV) $(PY) -m introcoach.rasa_server shell --model "$$($(PY) -m introcoach.model)" --endpoints endpoints.yml --interface 127.0.0.1 --port 5006

validate: install ## rasa data validate --fail-on-warnings (no training)
	@$(WITH_ENV) $(RASA) data validate --fail-on-warnings --config config.yml --domain domain.yml --data data

lint: install ## ruff on the project's code
	$(PY) -m ruff check introcoach actions tests bench scripts

types: install ## mypy on introcoach/ and actions/
	$(PY) -m mypy introcoach actions

test-unit: install ## Unit tests (no trained model, no browser)
	$(PYTEST) -m "not model and not browser" -q

test-stories: train ## rasa test on tests/test_*.yml stories, failing on any error
	@$(WITH_ENV) $(RASA) test core --model "$$($(PY) -m introcoach.model)" \
	  --stories tests/test_stories.yml --fail-on-prediction-errors --out results/stories

test-integration: train ## Tests that start the real servers on free ports
	$(PYTEST) -m "model and not browser" -q

test-browser: train browser-deps ## Browser tests in headless Chromium (Playwright), with the real servers
	$(PYTEST) -m browser -q

test: install ## Everything CI runs: lint, types, unit, validate, train, stories, integration, browser
	$(MAKE) lint types
	$(MAKE) test-unit
	$(MAKE) validate
	$(MAKE) train
	$(MAKE) test-stories
	$(MAKE) test-integration
	$(MAKE) test-browser

transcripts: train ## Run the role-play suite over REST; Markdown in results/roleplay/
	$(PY) scripts/roleplay_transcripts.py $(ARGS)

bench: train ## Benchmarks (not part of the test suite); writes bench/results/
	$(PY) bench/run_all.py

clean: ## Remove the venv, models, results and caches (keeps .secrets/)
	rm -rf $(VENV) .rasa results var .pytest_cache .mypy_cache .ruff_cache .hypothesis node_modules
	find models -name '*.tar.gz' -delete
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
