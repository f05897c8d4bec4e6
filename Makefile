# Two entry points for a fresh machine with Python 3.11 and make: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint-imports demo clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/cardsonline

lint-imports: $(STAMP)
	$(BIN)/lint-imports

test: $(STAMP) lint-imports
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

# Translations: two gettext domains, so the screens' catalog and the messages' catalog can be translated apart.
#   cardsonline: the screens and widgets (tui/ but the commands);  messages: services, e-mails, exports, commands.
BABEL_KEYWORDS := -k N_ -k NP_:1c,2 -k ngettext:1,2 -k pgettext:1c,2
SCREEN_SOURCES := tui/app.py tui/menu.py tui/session.py tui/themes.py tui/i18n tui/screens tui/widgets
MESSAGE_SOURCES := store exports tui/cli.py tui/config.py tui/ssh_server.py

.PHONY: catalogs
catalogs: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg $(BABEL_KEYWORDS) --no-location --sort-output --project cardsonline \
		-o tui/i18n/cardsonline.pot $(SCREEN_SOURCES)
	$(BIN)/pybabel -q extract -F babel.cfg $(BABEL_KEYWORDS) --no-location --sort-output --project cardsonline \
		-o tui/i18n/messages.pot $(MESSAGE_SOURCES)
	for domain in cardsonline messages; do for lang in en nl fr; do \
		if [ -f tui/i18n/locale/$$lang/LC_MESSAGES/$$domain.po ]; then \
			$(BIN)/pybabel -q update -D $$domain -i tui/i18n/$$domain.pot -d tui/i18n/locale -l $$lang --no-fuzzy-matching --ignore-obsolete; \
		else $(BIN)/pybabel -q init -D $$domain -i tui/i18n/$$domain.pot -d tui/i18n/locale -l $$lang; fi; \
	done; done
