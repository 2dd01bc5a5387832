"""Shared test configuration: quiet TensorFlow, and the real Fashion-MNIST where a user has it.

The tests read only what a user has: data they generate, the MNIST test set shipped inside the
package, and the Fashion-MNIST that the README's set-up command installs
(`apt-get install dataset-fashion-mnist`), found through keras_ceb's own search
(`--data-dir`/`$KERAS_CEB_DATA`, the Keras cache, `/usr/share/datasets`). Where Fashion-MNIST
is absent, the tests that need it are skipped with one line saying how to get it; with
`KERAS_CEB_TEST_REQUIRE_DATA=1` (set by `.ci/run`) they fail instead, so CI skips nothing.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from keras_ceb.datasets import locate  # noqa: E402

FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
REQUIRE_DATA_ENV = "KERAS_CEB_TEST_REQUIRE_DATA"
FASHION_MNIST_MISSING = (
    "Fashion-MNIST not found; get it with `apt-get install dataset-fashion-mnist`"
)


def find_fashion_mnist_dir():
    """The folder holding the four Fashion-MNIST idx files, found as the loaders find them.

    Returns `None` when no local copy exists (nothing is downloaded).
    """
    found, _ = locate.find_files([FASHION_MNIST_FILES], subdirs=("fashion-mnist",))
    return None if found is None else found.directory


@pytest.fixture(scope="session")
def fashion_mnist_dir():
    """A folder holding the four Fashion-MNIST idx files (gzipped or not), directly in it.

    Pass it as `data_dir=` / `--data-dir`. Skips the test (fails it under
    `KERAS_CEB_TEST_REQUIRE_DATA=1`) when Fashion-MNIST is not installed.
    """
    directory = find_fashion_mnist_dir()
    if directory is None:
        if os.environ.get(REQUIRE_DATA_ENV) == "1":
            pytest.fail(f"{FASHION_MNIST_MISSING} ({REQUIRE_DATA_ENV}=1)")
        pytest.skip(FASHION_MNIST_MISSING)
    return directory


@pytest.fixture(scope="session")
def fashion_mnist(fashion_mnist_dir):
    """Fashion-MNIST as `((x_train, y_train), (x_test, y_test))`: float32 images in [0, 1]
    of shape `(N, 28, 28, 1)`, int32 labels. Shared by the session, so read-only."""
    from keras_ceb.datasets import load_fashion_mnist

    splits = load_fashion_mnist(data_dir=fashion_mnist_dir, download=False)
    for array in (a for split in splits for a in split):
        array.flags.writeable = False
    return splits


# Tests over about 8 s on 2 cores on one backend (measured with `--durations`), beside the
# ones decorated `@pytest.mark.long`: marked long on that backend, so `make test` leaves them
# to `make test-long` (CI runs both). An id without parameters marks all its parameters.
LONG_ON_BACKEND = {
    "tensorflow": (
        "tests/models/classifier_guide_test.py::test_the_fine_tuning_code_runs",
        "tests/models/keras_hub_backbone_test.py::test_a_keras_hub_backbone_trains_under_ceb"
        "[resnet-mlp]",
        "tests/models/keras_hub_backbone_test.py::test_a_keras_hub_backbone_trains_under_ceb"
        "[resnet-catgen]",
        "tests/models/keras_hub_backbone_test.py::test_a_keras_hub_backbone_trains_under_ceb"
        "[vit-mlp]",
        "tests/models/keras_hub_backbone_test.py::"
        "test_a_frozen_keras_hub_backbone_stays_put_then_fine_tunes",
        "tests/distribution_test.py::test_mirrored_strategy_two_replicas",
        "tests/distribution_test.py::test_mirrored_strategy_bounds_and_gradients_use_the_global"
        "_batch",
        "tests/distribution_test.py::test_multi_worker_mirrored_strategy_two_workers_fit",
        "tests/cli/cli_test.py::test_train_and_evaluate_the_papers_mlp_head",
        "tests/cli/console_test.py::test_redirected_train_is_quiet_and_short",
        "tests/wiring_test.py::test_mixed_precision[ceb-mixed_float16]",
        "tests/wiring_test.py::test_mixed_precision[vib-mixed_float16]",
        "tests/wiring_test.py::test_jit_compile_and_clone_model",
        "tests/docstrings_test.py::test_docstring_examples[keras_ceb.tuning.rho_search]",
        "tests/docstrings_test.py::test_docstring_examples[keras_ceb.callbacks."
        "evaluation_callbacks]",
        "tests/docstrings_test.py::test_docstring_examples[keras_ceb.tuning.rho_tuner]",
        "tests/scenarios_test.py::test_high_rho_with_full_covariance_stays_finite",
        "tests/layers/vceb_head_test.py::test_layer_harness",
        "tests/models/evaluators_test.py::test_the_saved_model_serves_images_alone",
        "tests/models/ceb_classifier_test.py::test_the_labelled_terms_under_a_distribution"
        "_strategy",
    ),
    "jax": (
        "tests/distribution_test.py::test_two_processes_train_like_one_process_on_the_global_batch",
        "tests/distribution_test.py::test_jax_data_parallel_two_devices",
        "tests/wiring_test.py::test_mixed_precision",
        "tests/wiring_test.py::test_jit_compile_and_clone_model",
        "tests/scenarios_test.py::test_high_rho_with_full_covariance_stays_finite",
        "tests/scenarios_test.py::test_ceb_learns_fashion_mnist_subset",
        "tests/cli/cli_test.py::test_train_and_evaluate_the_papers_mlp_head",
        "tests/models/ceb_classifier_test.py::test_fit_evaluate_predict_and_reload",
        "tests/models/ceb_classifier_test.py::test_a_functional_model_of_the_old_layout_loads_as"
        "_a_classifier",
        "tests/models/ceb_classifier_test.py::test_a_collapsed_encoder_is_reported_in_one_line"
        "_per_epoch",
        "tests/models/classifiers_test.py::test_wide_resnet_classifier",
        "tests/ops/triangular_test.py::test_concurrent_large_solves_finish",
        "tests/layers/stochastic_encoder_test.py::test_layer_harness[full-ceb-None-0]",
        "tests/layers/stochastic_encoder_test.py::test_layer_harness[full-ceb-4-1]",
        "tests/layers/backward_encoder_test.py::test_layer_harness_consistent_classifier",
        "tests/layers/backward_encoder_test.py::test_layer_harness_with_labels_and_bottleneck"
        "_output",
        "tests/layers/catgen_head_test.py::test_layer_harness_class_labels",
        "tests/attacks/auto_attack_test.py::test_rand_version_for_a_model_that_samples",
        "tests/models/keras_hub_backbone_test.py",
        "tests/models/ceb_classifier_test.py::test_the_labelled_terms_under_a_distribution"
        "_strategy",
        "tests/models/ceb_classifier_test.py::test_clone_model_and_mixed_precision",
        "tests/layers/stochastic_encoder_test.py::test_evaluate_reports_every_estimate_that_fit"
        "_logs",
        "tests/scenarios_test.py::test_scenario_trains_logs_and_saves[a]",
        "tests/attacks/fab_test.py::test_fab_t_is_about_as_strong_as_apgd_t_on_a_trained_model",
        "tests/attacks/fab_test.py::test_only_correct_examples_are_attacked_and_robust_ones_come"
        "_back_clean",
    ),
}


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the marks
def pytest_collection_modifyitems(config, items):
    import keras

    long_ids = LONG_ON_BACKEND.get(keras.backend.backend(), ())
    for item in items:
        if any(item.nodeid == i or item.nodeid.startswith((i + "[", i + "::")) for i in long_ids):
            item.add_marker(pytest.mark.long)
