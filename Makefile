# The two commands of the README:
#   make demo   - set up a virtual environment and run the end-to-end demo
#   make test   - set up a virtual environment with the test extras and run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
comma  := ,
# The demo serves its model, so it needs the server extra; on a CUDA host it also gets CuPy.
DEMO_EXTRAS := serve$(if $(shell command -v nvidia-smi 2>/dev/null),$(comma)cuda13,)

.PHONY: demo test bench protos

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(DEMO_EXTRAS)]'
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(PY) -m pip install -q -e '.[test]'
	# tf.compat.v1.layers for the layer tests; --no-deps, or it would pull the full tensorflow package
	$(PY) -m pip install -q --no-deps tf-keras==2.21.0
	touch $@

demo: $(VENV)/.base
	$(PY) -m gpugraph.demo

test: $(VENV)/.test
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: $(VENV)/.test
	$(PY) -m pytest -q -p no:cacheprovider bench --benchmark-columns=min,median,mean,rounds

protos: $(VENV)/.test
	$(PY) protos/generate.py
