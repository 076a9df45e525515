# The two commands a new user needs: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: serve test docs install install-test install-system install-browser bench compare lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

# What the tests need from Debian, and nothing more: Chromium for the browser
# tests, driven by Playwright (never `playwright install`, which downloads a
# browser); a person's recorded speech with transcripts (Asterisk's prompts) for
# the word error rate tests (asterisk-core-sounds-en carries the transcripts);
# redis-server and coturn, which the cluster and TURN
# tests start on loopback themselves. Installed without recommends, and the
# services these packages enable are disabled again: the tests start their own.
# As root the setup installs them; otherwise those tests skip.
DEBIAN_TEST_PACKAGES := chromium asterisk-core-sounds-en asterisk-core-sounds-en-wav asterisk-core-sounds-en-g722 \
	redis-server coturn
DEBIAN_TEST_SERVICES := redis-server coturn
install-system:
	@missing=$$(for p in $(DEBIAN_TEST_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	missing=$$(echo $$missing); \
	if [ -z "$$missing" ]; then echo "Debian packages the tests use: all present ($(DEBIAN_TEST_PACKAGES))"; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "Installing from Debian, without recommends:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $$missing; \
		for s in $(DEBIAN_TEST_SERVICES); do case " $$missing " in *" $$s "*) \
			systemctl disable --quiet $$s 2>/dev/null || true;; esac; done; \
	else echo "not root: tests needing $$missing will be skipped (apt-get install them)"; fi

# promtool checks compose's Prometheus config. It comes out of Debian's
# prometheus package, unpacked into .cache/ rather than installed, so that no
# Prometheus server or exporter lands on the machine.
PROMTOOL := .cache/debian/usr/bin/promtool
$(PROMTOOL):
	@mkdir -p .cache/debian; \
	if (cd .cache/debian && apt-get download -q prometheus >/dev/null 2>&1); then \
		echo "Unpacking promtool from Debian's prometheus package into .cache/debian (no daemon)"; \
		dpkg-deb -x .cache/debian/prometheus_*.deb .cache/debian && rm -f .cache/debian/prometheus_*.deb; \
	else echo "could not download Debian's prometheus package: the promtool test will be skipped"; fi

install-browser: install-system

serve: install
	$(BIN)/sluice serve --host $(HOST) --port $(PORT)

test: install-test install-system $(PROMTOOL)
	$(BIN)/ruff check gateway transports tests bench
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	PATH="$(CURDIR)/.cache/debian/usr/bin:$$PATH" $(BIN)/python -m pytest

# The documentation site, served at http://127.0.0.1:8000/ with live reload.
docs: install-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

lint: install-test
	$(BIN)/ruff check gateway transports tests bench

bench: install-test
	$(BIN)/python -m bench.capacity --transport twilio --pin
	$(BIN)/python -m bench.capacity --transport websocket --pin
	$(BIN)/python -m bench.capacity --transport webrtc --pin
	$(BIN)/python -m bench.capacity --transport webrtc --workers 2 --ladder 1,10,40
	taskset -c 0 $(BIN)/python -m bench.vad_batch
	taskset -c 0 $(BIN)/python -m bench.join_cost
	taskset -c 0 $(BIN)/python -m bench.opus
	$(BIN)/python -m bench.twilio_turns
	$(BIN)/python -m bench.barge_in
	$(BIN)/python -m bench.barge_in --scenarios backchannel
	taskset -c 0 $(BIN)/python -m bench.stt
	taskset -c 0 $(BIN)/python -m bench.tts

# The comparison's full matrix: the defaults (every wire, four profiles,
# interrupt, burst and many calls, Sluice against the naive baseline, synthetic
# and Chromium listeners) and the backchannel, on the kernel path where this
# machine can make namespaces. About 45 minutes; results/compare-<time>/.
compare: install-test install-system
	$(BIN)/sluice compare --scenarios interrupt,burst,many,backchannel

clean:
	rm -rf $(VENV) results bench/results build .cache
