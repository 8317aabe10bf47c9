# Playcation: `make run` brings the store up at http://127.0.0.1:5000; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
VENDOR := static/vendor

.PHONY: run test install install-dev assets browser-deps clean translations messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.stamp-req: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.stamp-dev: requirements-dev.txt $(VENV)/.stamp-req
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.stamp-req
install-dev: $(VENV)/.stamp-dev

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENDOR)/.stamp: node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp node_modules/htmx-ext-sse/dist/sse.js $(VENDOR)/sse.js
	cp node_modules/@picocss/pico/css/pico.min.css $(VENDOR)/pico.min.css
	cp node_modules/chart.js/dist/chart.umd.min.js $(VENDOR)/chart.umd.min.js
	touch $@

assets: $(VENDOR)/.stamp

# Korean catalog: the .po is under version control, the .mo is compiled here.
# `make messages` extracts every msgid (code and templates) and merges it into the .po.
KO_PO := translations/ko/LC_MESSAGES/messages.po
$(KO_PO:.po=.mo): $(KO_PO) $(VENV)/.stamp-req
	$(BIN)/pybabel compile -d translations -l ko

translations: $(KO_PO:.po=.mo)

messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 --no-location --sort-output \
	  --project=Playcation --copyright-holder=Playcation -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations -l ko --no-fuzzy-matching

# Debian's chromium for the Playwright browser tests (skipped with a message when it
# cannot be installed, e.g. without root).
browser-deps:
	@dpkg -s chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will be skipped"; \
	  else echo "warning: chromium missing and apt-get unavailable; browser tests will be skipped"; fi; }

run: install assets translations
	$(BIN)/python -m shop.dev.server

test: install-dev assets translations browser-deps
	$(BIN)/python -m tests.run $(ARGS)

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache

# Mixed traffic on two nodes (bench/mixed_load.py): needs PostgreSQL (PLAYCATION_PG_URL or
# TEST_DATABASE_URL, else postgres@127.0.0.1:5432) and redis-server on PATH.
LOAD_SECONDS ?= 15
.PHONY: load
load: install
	LOAD_SECONDS=$(LOAD_SECONDS) $(BIN)/python -m bench.mixed_load
