# The two commands a new user needs: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: serve test install install-test install-system install-browser bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

# What the tests need from Debian: Chromium for the browser tests, driven by
# Playwright (never `playwright install`, which downloads a browser); a
# person's recorded speech with transcripts (Asterisk's prompts) for the word
# error rate tests; redis-server and coturn, which the cluster and TURN tests
# start on loopback themselves; promtool (in prometheus) and docker-compose to check compose's
# Prometheus config. As root the setup installs them; otherwise those tests skip.
DEBIAN_TEST_PACKAGES := chromium asterisk-core-sounds-en-wav asterisk-core-sounds-en-g722 \
	redis-server coturn prometheus docker-compose
install-system:
	@missing=$$(for p in $(DEBIAN_TEST_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else echo "not root: tests needing $$missing will be skipped (apt-get install them)"; fi

install-browser: install-system

serve: install
	$(BIN)/sluice serve --host $(HOST) --port $(PORT)

test: install-test install-system
	$(BIN)/ruff check gateway transports tests bench
	$(BIN)/python -m pytest

lint: install-test
	$(BIN)/ruff check gateway transports tests bench

bench: install-test
	$(BIN)/python -m bench.capacity --transport twilio --pin
	$(BIN)/python -m bench.capacity --transport websocket --pin
	$(BIN)/python -m bench.capacity --transport webrtc --pin
	$(BIN)/python -m bench.capacity --transport webrtc --workers 2 --ladder 1,10,40
	taskset -c 0 $(BIN)/python -m bench.vad_batch
	taskset -c 0 $(BIN)/python -m bench.join_cost
	$(BIN)/python -m bench.twilio_turns
	$(BIN)/python -m bench.barge_in
	$(BIN)/python -m bench.barge_in --scenarios backchannel
	taskset -c 0 $(BIN)/python -m bench.stt
	taskset -c 0 $(BIN)/python -m bench.tts

clean:
	rm -rf $(VENV) results bench/results
