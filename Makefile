# The test command of the README and of CI: the whole suite on TensorFlow, then on JAX.
.PHONY: test test-tensorflow test-jax test-torch

test: test-tensorflow test-jax

test-tensorflow:
	KERAS_BACKEND=tensorflow python3 -m pytest -q -p no:cacheprovider

test-jax:
	KERAS_BACKEND=jax python3 -m pytest -q -p no:cacheprovider

# Not part of `make test` (CI installs no PyTorch): the core on the PyTorch backend.
test-torch:
	KERAS_BACKEND=torch python3 -m pytest -q -p no:cacheprovider tests/ops tests/layers tests/scenarios_test.py
