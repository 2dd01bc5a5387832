"""Every file the README and the docs pages link to or show is in the repository."""

import pathlib
import re

import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_readmes_local_links_and_images_exist():
    missing = []
    pages = [
        REPO_ROOT / "README.md",
        REPO_ROOT / "CHANGELOG.md",
        *sorted(REPO_ROOT.glob("benchmarks/**/README.md")),
        *sorted(REPO_ROOT.glob("docs/**/*.md")),
    ]
    for readme in pages:
        text = readme.read_text()
        targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(
            r'(?:src|href)="([^"]+)"', text
        )
        for target in targets:
            path = target.split("#")[0]
            if not path or re.match(r"[a-z]+:", path):  # An anchor or a URL.
                continue
            if not (readme.parent / path).exists():
                missing.append(f"{readme.relative_to(REPO_ROOT)}: {target}")
    assert not missing, missing


def test_the_readme_is_a_front_page():
    """About 250 lines at most; the reference material lives under docs/."""
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, len(lines)
    text = "\n".join(lines)
    for needed in (
        "model.add(keras_ceb.StochasticEncoder(4",
        "python3 -m venv .venv",
        "make test",
        "rate_scores",
        "docs/api/index.md",
    ):
        assert needed in text, needed


def test_the_readmes_keras_example_runs_as_written(fashion_mnist_dir):
    """The ten lines, as a reader copies them: one epoch on 2,000 images instead of ten on all
    (the loaders find Fashion-MNIST where the fixture did)."""
    text = (REPO_ROOT / "README.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    loads = "x_ood, _ = keras_ceb.datasets.load_mnist_test()"
    assert loads in code and "epochs=10" in code
    code = code.replace(loads, loads + "\nx_train, y_train = x_train[:2000], y_train[:2000]")
    code = code.replace("epochs=10", "epochs=1")
    *body, last = code.strip().splitlines()
    namespace = {}
    exec("\n".join(body + [f"auroc = {last}"]), namespace)
    assert 0.0 <= namespace["auroc"] <= 1.0
    history = namespace["model"].history.history
    for name in ("rex", "i_yz", "rate", "i_xz_lower"):
        assert np.isfinite(history[name][0]) and np.isfinite(history[f"val_{name}"][0]), name
