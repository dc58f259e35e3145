# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv/ when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROMPT ?= a person jumps
OUT ?= out
# test processes (pytest-xdist); files stay whole on one worker so module fixtures are built once
TEST_WORKERS ?= 2

.PHONY: venv demo test bench extension clean

$(STAMP): requirements.txt motionclip_blender/runtime-requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	mkdir -p $(OUT)
	$(VENV)/bin/motionclip demo "$(PROMPT)" --out $(OUT)/demo.blend --preview $(OUT)/demo.png --bvh $(OUT)/demo.bvh

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile addon_tests

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

extension: $(STAMP)
	$(PY) tools/build_extension.py --output-dir dist

clean:
	rm -rf dist $(OUT) .pytest_cache
