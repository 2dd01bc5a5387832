# The test command of the README and of CI: the whole suite on TensorFlow, then the part of it
# whose result depends on the backend on JAX, each on 2 pytest-xdist workers (one per core; a
# test file stays on one worker, so its module fixtures are built once). `make test` runs both
# even when the first fails, prints one summary line per backend, and fails if either failed
# (pytest's exit code 5, no tests collected, included). `make test-all` adds the long checks
# that `make test` leaves out (the tests marked `long`, over about 8 s each on 2 cores, on each
# backend); CI runs `make test`, then `make test-long`.
# docs/guide/testing.md has the times.
.PHONY: test test-long test-all test-tensorflow test-jax test-jax-core test-torch lint

# The README's command 1 installs into .venv; use it when it is there.
PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
PYTEST = $(PYTHON) -m pytest -q -p no:cacheprovider
PARALLEL = -n 2 --dist loadfile
# On JAX: the math, the layers, their wiring, the classifiers, the attacks (compiled per
# backend), distribution and one `keras-ceb train` / `evaluate` round trip. Left to the
# TensorFlow run: the input pipeline (tf.data and NumPy whatever the backend), reports,
# statistics, the CLI's argument handling, the tuner's bookkeeping, the callbacks, the other
# model builders' unit tests, the docstring examples, the docs build and the tutorials.
JAX_TESTS = tests/ops tests/layers tests/losses_test.py tests/wiring_test.py \
	tests/scenarios_test.py tests/models/classifiers_test.py tests/models/ceb_classifier_test.py tests/attacks tests/distribute_test.py \
	tests/distribution_test.py tests/jax_cpu_crash_test.py
# Which tests are long (over about 8 s on 2 cores) depends on the backend: the ones decorated
# `@pytest.mark.long`, and tests/conftest.py's LONG_ON_BACKEND. On JAX, `make test-long` also
# runs the tutorials and the train / evaluate round trip of the CLI.
JAX_LONG_EXTRA = tests/tutorials/notebooks_test.py \
	tests/cli/cli_test.py::test_train_and_evaluate_the_papers_mlp_head \
	tests/models/keras_hub_backbone_test.py

SUMMARY = summary() { \
		case $$2 in \
			0) echo "make $$1: passed";; \
			5) echo "make $$1: FAILED (pytest exit code 5: no tests collected)";; \
			*) echo "make $$1: FAILED (pytest exit code $$2)";; \
		esac; \
	}

test:
	@tf=0; jax=0; \
	KERAS_BACKEND=tensorflow $(PYTEST) $(PARALLEL) -m "not long" || tf=$$?; \
	KERAS_BACKEND=jax $(PYTEST) $(PARALLEL) -m "not long" $(JAX_TESTS) || jax=$$?; \
	$(SUMMARY); summary "test: tensorflow" $$tf; summary "test: jax" $$jax; \
	test $$tf -eq 0 && test $$jax -eq 0

test-long:
	@tf=0; jax=0; \
	KERAS_BACKEND=tensorflow $(PYTEST) $(PARALLEL) -m long || tf=$$?; \
	KERAS_BACKEND=jax $(PYTEST) $(PARALLEL) -m long $(JAX_TESTS) $(JAX_LONG_EXTRA) || jax=$$?; \
	$(SUMMARY); summary "test-long: tensorflow" $$tf; summary "test-long: jax" $$jax; \
	test $$tf -eq 0 && test $$jax -eq 0

test-all: test test-long

test-tensorflow:
	KERAS_BACKEND=tensorflow $(PYTEST) $(PARALLEL)

# The whole suite on JAX.
test-jax:
	KERAS_BACKEND=jax $(PYTEST) $(PARALLEL)

test-jax-core:
	KERAS_BACKEND=jax $(PYTEST) $(PARALLEL) -m "not long" $(JAX_TESTS)

# Not part of `make test` (CI installs no PyTorch): the core on the PyTorch backend.
test-torch:
	KERAS_BACKEND=torch $(PYTEST) tests/ops tests/layers tests/scenarios_test.py

# ruff's linter and its formatter's check (pyproject.toml's [tool.ruff]); CI runs it. `ruff
# format .` and `ruff check --fix .` apply what they can.
lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
