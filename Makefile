# Two commands do all set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DB ?= data/aggregator.db
HOST ?= 127.0.0.1
PORT ?= 8001

.PHONY: run test install collection serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q aggregator  # as pip does for a regular install: faster first start
	touch $(STAMP)

install: $(STAMP)

# Build the collection: the shipped sample (from disk, works offline), then the starter
# subscriptions (needs the network; a feed that cannot be reached is reported, not fatal).
collection: $(STAMP)
	$(BIN)/aggregator --db $(DB) load-sample data/sample
	$(BIN)/aggregator --db $(DB) import data/subscriptions.opml
	$(BIN)/aggregator --db $(DB) fetch || echo "fetch could not run; serving what is stored"

run: collection
	$(BIN)/aggregator --db $(DB) serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(DB) $(DB)-wal $(DB)-shm
