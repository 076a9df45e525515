# The two commands a new user needs: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: serve test install install-test install-browser bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

# Browser tests drive Debian's Chromium with Playwright (never `playwright install`,
# which downloads a browser). As root the setup installs it; otherwise those tests skip.
install-browser:
	@if [ -x /usr/lib/chromium/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "not root: browser tests will be skipped (apt-get install chromium to run them)"; fi

serve: install
	$(BIN)/sluice serve --host $(HOST) --port $(PORT)

test: install-test install-browser
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

clean:
	rm -rf $(VENV) results bench/results
