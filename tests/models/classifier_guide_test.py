"""The code of docs/guide/classifier.md runs as written: a keras.applications backbone and a
KerasHub backbone, each frozen then fine-tuned (the page's Python blocks, in order, in one
namespace)."""

import os
import pathlib
import re

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_fine_tuning_code_runs(tmp_path, monkeypatch):
    page = (REPO_ROOT / "docs" / "guide" / "classifier.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert len(blocks) == 2, "the guide's keras.applications and KerasHub examples"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for number, code in enumerate(blocks):
        if "import keras_hub" in code:
            pytest.importorskip("keras_hub")  # tests/models/keras_hub_backbone_test.py: CI has it
        code = (
            code.replace("epochs=1)", "epochs=1, verbose=0)")
            .replace("model.predict(x)", "model.predict(x, verbose=0)")
            .replace("model.predict(x / 255)", "model.predict(x / 255, verbose=0)")
        )
        exec(compile(code, f"classifier.md, block {number + 1}", "exec"), namespace)
    assert namespace["logits"].shape == (64, 4) and namespace["rate"].shape == (64,)
    assert os.path.exists(tmp_path / "fine_tuned.keras")
    assert namespace["hub_logits"].shape == (64, 4)
