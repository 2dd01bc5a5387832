"""The code of docs/guide/classifier.md runs as written (a keras.applications backbone, frozen
then fine-tuned)."""

import os
import pathlib
import re

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_fine_tuning_code_runs(tmp_path, monkeypatch):
    page = (REPO_ROOT / "docs" / "guide" / "classifier.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code.replace("epochs=1)", "epochs=1, verbose=0)")
                 .replace("model.predict(x)", "model.predict(x, verbose=0)"),
                 "classifier.md", "exec"), namespace)
    assert namespace["logits"].shape == (64, 4) and namespace["rate"].shape == (64,)
    assert os.path.exists(tmp_path / "fine_tuned.keras")
