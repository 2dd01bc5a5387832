# The test command of the README and of CI: the whole suite on TensorFlow, then on JAX.
# `make test` runs both backends even when the first fails, prints one summary line per
# backend, and fails if either failed (pytest's exit code 5, no tests collected, included).
.PHONY: test test-tensorflow test-jax test-torch

PYTEST = python3 -m pytest -q -p no:cacheprovider

test:
	@tf=0; jax=0; \
	KERAS_BACKEND=tensorflow $(PYTEST) || tf=$$?; \
	KERAS_BACKEND=jax $(PYTEST) || jax=$$?; \
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

# Not part of `make test` (CI installs no PyTorch): the core on the PyTorch backend.
test-torch:
	KERAS_BACKEND=torch $(PYTEST) tests/ops tests/layers tests/scenarios_test.py
