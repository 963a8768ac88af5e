# The call-billing add-on: developer entry points.  See README.md.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DATA   ?= var

.PHONY: setup run test test-postgres test-live check bench package board-test test-bookworm clean messages

## setup: virtualenv with pinned dependencies and dev tools, plus the Debian packages the tests
## use (chromium for UI tests, faketime for the trial clock tests, LibreOffice Calc for the
## export tests, poppler-utils' pdftotext for the statement PDF tests)
setup: $(VENV)/.done
$(VENV)/.done: requirements.txt requirements-dev.txt requirements-test.txt setup.py \
               tools/install-system-packages.sh
	sh tools/install-system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

## run: the product on an embedded default (SQLite file under ./var, demo board, demo data)
run: setup
	$(PY) -m billing_addon.cli --config dev.ini demo --if-empty
	@# a developer's admin password, random, made once and kept in var/ (never a default)
	@if [ ! -s var/admin-password ]; then \
	    $(PY) -c "import secrets; print(secrets.token_urlsafe(9))" > var/admin-password; \
	    $(PY) -m billing_addon.cli --config dev.ini admin set-password --stdin < var/admin-password; \
	fi
	@echo "web UI: http://127.0.0.1:8080/  user admin, password $$(cat var/admin-password) (var/admin-password)"
	$(PY) -m billing_addon.cli --config dev.ini serve

## test: every test (pytest exit code 5, "no tests ran", counts as a failure)
test: setup
	$(PY) -m pytest -q -p no:cacheprovider tests; rc=$$?; \
	if [ $$rc = 5 ]; then echo "no tests ran: failing" >&2; fi; exit $$rc

## test-postgres: the store, money, calls, PBX and web tests again on a real PostgreSQL server
## (a throwaway cluster of Debian's postgresql, started and stopped by the tests:
## tests/pg_store.py); tests about the SQLite file itself are skipped there
PG_TESTS := test_store test_store_postgres test_money test_accounts test_calls test_rating \
            test_rates test_groupcommit test_plans test_plans_in_use test_pin_accounts \
            test_departments test_call_types test_call_days test_rerate test_stays \
            test_statement_files test_low_balance test_pbx_agi test_pbx_cdr test_pbx_cdr_import \
            test_pbx_dialplan test_pbx_e2e test_pbx_replay test_pbx_server test_pbx_sync \
            test_web_app test_roles test_exports test_daemon test_crash test_sites \
            test_sites_web test_sites_daemon test_api test_api_kill test_api_openapi \
            test_api_tokens_cli test_settle_queue test_settle_queue_crash test_site_claim \
            test_side_by_side test_web_edge_input
test-postgres: setup
	BILLING_TEST_STORE=postgresql $(PY) -m pytest -q -p no:cacheprovider \
	    $(patsubst %,tests/%.py,$(PG_TESTS)); rc=$$?; \
	if [ $$rc = 5 ]; then echo "no tests ran: failing" >&2; fi; exit $$rc

## test-live: the shipped dialplan and the daemon on a real Asterisk 22 (tests/live; it says
## where it looked when it finds none: ASTERISK_PREFIX, asterisk on PATH, ASTERISK_TARBALL
## or ../shared/asterisk/asterisk-*.tar.xz)
test-live: setup
	BILLING_LIVE=1 $(PY) -m pytest -q -p no:cacheprovider tests/live; rc=$$?; \
	if [ $$rc = 5 ]; then echo "no tests ran: failing" >&2; fi; exit $$rc

## check: ruff, mypy and the import rules (tools/check_imports.py): the pure money/rating core;
## hwlicense imports nothing of the add-on and has no import cycle
check: setup
	$(VENV)/bin/ruff check billing_addon web hwlicense board tests bench
	$(VENV)/bin/mypy billing_addon hwlicense web
	$(PY) tools/check_imports.py

## messages: every text marked for translation into billing_addon/locale/messages.pot
## (docs/translating.md); commit it with the texts
messages: setup
	$(PY) tools/messages.py

bench: setup
	$(PY) -m bench.run_all

package: setup
	$(PY) tools/build_package.py

## board-test: the qemu board test (docs/box.md); installs debootstrap/qemu when missing
board-test: setup
	sh board/qemu/install-host-packages.sh
	$(PY) -m board.qemu.harness

## test-bookworm: the suite against the library versions of Debian bookworm (the box)
test-bookworm:
	$(PYTHON) -m venv .venv-bookworm
	.venv-bookworm/bin/pip install -q -r constraints-bookworm.txt -r requirements-test.txt
	.venv-bookworm/bin/pip install -q --no-deps --no-build-isolation -e .
	.venv-bookworm/bin/python -m pytest -q -p no:cacheprovider tests

clean:
	rm -rf $(VENV) .venv-bookworm build dist *.egg-info
