# Two commands do all the set-up: `make demo` and `make test`.
# Each bootstraps .venv idempotently (re-installs only when setup.cfg changes).
PY ?= python3
# The suite runs in three pytest-xdist workers, a test file per worker (its module and session fixtures
# stay together): most tests wait on real processes (receivers, brokers, databases), so three workers
# keep two cores busy. `make test PYTEST_ARGS=` runs it in one process.
PYTEST_ARGS ?= -n 3 --dist loadfile
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test sysdeps lint bench clean i18n deb deb-test

$(STAMP):
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/edgeproof demo $(ARGS)

sysdeps:
	bash scripts/sysdeps.sh

test: $(STAMP) sysdeps
	# the [tpm] extra builds against libtss2-dev, which sysdeps has just installed (not in [dev]: `make demo` needs no apt)
	$(VENV)/bin/python -c "import tpm2_pytss" 2>/dev/null || $(VENV)/bin/python -m pip install -q -e '.[tpm]'
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# After wrapping new strings in _(): extract them into the .po files, translate, then compile (docs/i18n.md).
i18n: $(STAMP)
	$(VENV)/bin/python scripts/i18n.py update
	$(VENV)/bin/python scripts/i18n.py compile
	$(VENV)/bin/python scripts/i18n.py check

# The gateway as a Debian package (dist/edgeproof_<version>-1_<arch>.deb): a venv in
# /opt/edgeproof/venv with every wheel inside; building needs PyPI, installing does not.
# DEB_EXTRAS=pi for a package without cameras and the receiver (then `edgeproof demo` cannot run).
deb: $(STAMP)
	$(VENV)/bin/python scripts/build_deb.py --out dist $(if $(DEB_EXTRAS),--extras $(DEB_EXTRAS))

# Installs that package into a clean Debian root (mmdebstrap), provisions, selftest, demo, purge.
deb-test: deb
	bash scripts/deb_install_test.sh

bench: $(STAMP)
	$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info
