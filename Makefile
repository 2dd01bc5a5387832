# The test command of the README and of CI: the whole suite on TensorFlow, then the part of it
# whose result depends on the backend on JAX (the whole suite on JAX takes 13.5 minutes on 2
# cores: `make test-jax`). `make test` runs both even when the first fails, prints one summary
# line per backend, and fails if either failed (pytest's exit code 5, no tests collected,
# included).
.PHONY: test test-tensorflow test-jax test-jax-core test-torch

PYTEST = python3 -m pytest -q -p no:cacheprovider
# On JAX: the math, the layers, their wiring, the classifiers, the attacks (compiled per
# backend), distribution (2 processes included), the tutorials (which train the hierarchical,
# predictive and denoising models) and one `keras-ceb train` / `evaluate` round trip: 8 minutes
# on 2 cores. Left to the TensorFlow run: the input pipeline (tf.data and NumPy whatever the
# backend), reports, statistics, the CLI's argument handling, the tuner's bookkeeping, the
# callbacks, the other model builders' unit tests and the docstring examples.
JAX_TESTS = tests/ops tests/layers tests/losses_test.py tests/wiring_test.py \
	tests/scenarios_test.py tests/models/classifiers_test.py tests/attacks tests/distribute_test.py \
	tests/distribution_test.py tests/jax_cpu_crash_test.py tests/tutorials \
	tests/cli/cli_test.py::test_train_and_evaluate_the_papers_mlp_head

test:
	@tf=0; jax=0; \
	KERAS_BACKEND=tensorflow $(PYTEST) || tf=$$?; \
	KERAS_BACKEND=jax $(PYTEST) $(JAX_TESTS) || jax=$$?; \
	summary() { \
		case $$2 in \
			0) echo "make test: $$1: passed";; \
			5) echo "make test: $$1: FAILED (pytest exit code 5: no tests collected)";; \
			*) echo "make test: $$1: FAILED (pytest exit code $$2)";; \
		esac; \
	}; \
	summary tensorflow $$tf; summary jax $$jax; \
	test $$tf -eq 0 && test $$jax -eq 0

test-tensorflow:
	KERAS_BACKEND=tensorflow $(PYTEST)

test-jax:
	KERAS_BACKEND=jax $(PYTEST)

test-jax-core:
	KERAS_BACKEND=jax $(PYTEST) $(JAX_TESTS)

# Not part of `make test` (CI installs no PyTorch): the core on the PyTorch backend.
test-torch:
	KERAS_BACKEND=torch $(PYTEST) tests/ops tests/layers tests/scenarios_test.py
