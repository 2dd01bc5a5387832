# The test command of the README and of CI: the whole suite on TensorFlow, then the part of it
# whose result depends on the backend on JAX, each on 2 pytest-xdist workers (one per core; a
# test file stays on one worker, so its module fixtures are built once). `make test` runs both
# even when the first fails, prints one summary line per backend, and fails if either failed
# (pytest's exit code 5, no tests collected, included). `make test-all` adds the long checks
# that `make test` leaves out (the tests marked `long`, over 15 s each, on TensorFlow, and
# JAX_LONG below); CI runs `make test`, then `make test-long`.
# docs/guide/testing.md has the times.
.PHONY: test test-long test-all test-tensorflow test-jax test-jax-core test-torch

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
# The long JAX checks, run by `make test-long` and `make test-all` (and CI), not `make test`:
# the tutorials, the 2-process training, mixed precision, 2,000 steps at high rho, the
# train / evaluate round trip and the other JAX tests over 10 s (each also runs on TensorFlow,
# in `make test` or, marked long, in `make test-long`).
JAX_LONG = tests/tutorials/notebooks_test.py \
	tests/distribution_test.py::test_two_processes_train_like_one_process_on_the_global_batch \
	"tests/wiring_test.py::test_mixed_precision[ceb-mixed_bfloat16]" \
	"tests/wiring_test.py::test_mixed_precision[vib-mixed_bfloat16]" \
	"tests/wiring_test.py::test_mixed_precision[determ-mixed_bfloat16]" \
	tests/scenarios_test.py::test_high_rho_with_full_covariance_stays_finite \
	tests/cli/cli_test.py::test_train_and_evaluate_the_papers_mlp_head \
	"tests/wiring_test.py::test_mixed_precision[ceb-mixed_float16]" \
	"tests/wiring_test.py::test_mixed_precision[vib-mixed_float16]" \
	"tests/wiring_test.py::test_mixed_precision[determ-mixed_float16]" \
	tests/scenarios_test.py::test_ceb_learns_fashion_mnist_subset \
	tests/models/ceb_classifier_test.py::test_fit_evaluate_predict_and_reload \
	tests/models/ceb_classifier_test.py::test_a_functional_model_of_the_old_layout_loads_as_a_classifier \
	tests/ops/triangular_test.py::test_concurrent_large_solves_finish \
	tests/distribution_test.py::test_jax_data_parallel_two_devices \
	"tests/layers/stochastic_encoder_test.py::test_layer_harness[full-ceb-None-0]" \
	"tests/layers/backward_encoder_test.py::test_layer_harness_consistent_classifier[full]" \
	tests/attacks/test_auto_attack.py::test_rand_version_for_a_model_that_samples
JAX_DESELECT = $(foreach t,$(filter-out tests/tutorials/% tests/cli/%,$(JAX_LONG)),--deselect $(t))

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
	KERAS_BACKEND=jax $(PYTEST) $(PARALLEL) -m "not long" $(JAX_TESTS) $(JAX_DESELECT) || jax=$$?; \
	$(SUMMARY); summary "test: tensorflow" $$tf; summary "test: jax" $$jax; \
	test $$tf -eq 0 && test $$jax -eq 0

test-long:
	@tf=0; jax=0; \
	KERAS_BACKEND=tensorflow $(PYTEST) $(PARALLEL) -m long || tf=$$?; \
	KERAS_BACKEND=jax $(PYTEST) $(PARALLEL) $(JAX_LONG) || jax=$$?; \
	$(SUMMARY); summary "test-long: tensorflow" $$tf; summary "test-long: jax" $$jax; \
	test $$tf -eq 0 && test $$jax -eq 0

test-all: test test-long

test-tensorflow:
	KERAS_BACKEND=tensorflow $(PYTEST) $(PARALLEL)

# The whole suite on JAX.
test-jax:
	KERAS_BACKEND=jax $(PYTEST) $(PARALLEL)

test-jax-core:
	KERAS_BACKEND=jax $(PYTEST) $(PARALLEL) $(JAX_TESTS) $(JAX_DESELECT)

# Not part of `make test` (CI installs no PyTorch): the core on the PyTorch backend.
test-torch:
	KERAS_BACKEND=torch $(PYTEST) tests/ops tests/layers tests/scenarios_test.py
