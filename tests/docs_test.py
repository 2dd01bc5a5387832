"""The API reference and the guide pages build offline, and document every public name."""

import importlib
import inspect
import pathlib
import re
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# Each API page and the modules it documents (`::: module` in the page).
API_PAGES = {
    "layers": ["keras_ceb.layers"],
    "losses": ["keras_ceb.losses"],
    "metrics": ["keras_ceb.metrics"],
    "rho": ["keras_ceb.rho"],
    "callbacks": ["keras_ceb.callbacks"],
    "models": ["keras_ceb.models"],
    "datasets": ["keras_ceb.datasets"],
    "evaluation": ["keras_ceb.evaluation"],
    "attacks": ["keras_ceb.attacks"],
    "tuning": ["keras_ceb.tuning"],
    "training": [
        "keras_ceb.training.config",
        "keras_ceb.training.recipe",
        "keras_ceb.training.presets",
        "keras_ceb.training.recipe_presets",
        "keras_ceb.training.schedules",
        "keras_ceb.training.data",
        "keras_ceb.training.model_files",
        "keras_ceb.training.errors",
    ],
    "ops": [
        "keras_ceb.ops.gaussian",
        "keras_ceb.ops.mixture",
        "keras_ceb.ops.catgen",
        "keras_ceb.ops.information",
        "keras_ceb.ops.triangular",
    ],
    "distribute": ["keras_ceb.distribute"],
    "export": ["keras_ceb.export"],
    "internals": [
        "keras_ceb.cli",
        "keras_ceb.commands.arguments",
        "keras_ceb.console",
        "keras_ceb.reporting",
        "keras_ceb.run_folder",
        "keras_ceb.validation",
        "keras_ceb.lazy",
        "keras_ceb.inference",
        "keras_ceb.commands",
        "keras_ceb.commands.errors",
        "keras_ceb.commands.evaluate",
        "keras_ceb.commands.tune",
    ],
}


def public_names(module):
    """`__all__`, or the public functions, classes and constants the module defines itself."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        defined_in = getattr(value, "__module__", None)
        if inspect.isfunction(value) or inspect.isclass(value):
            if defined_in == module.__name__:
                names.append(name)
        elif name.isupper():  # A module constant.
            names.append(name)
    return names


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="the API reference needs the test extra (mkdocs)")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_the_pages_name_the_modules_this_test_checks():
    for page, modules in API_PAGES.items():
        text = (REPO_ROOT / "docs" / "api" / f"{page}.md").read_text()
        assert re.findall(r"^::: (\S+)$", text, re.M) == modules, page


def test_every_public_name_is_in_the_api_reference(site):
    missing = []
    for page, modules in API_PAGES.items():
        html = (site / "api" / page / "index.html").read_text()
        for module_name in modules:
            module = importlib.import_module(module_name)
            for name in public_names(module):
                if f'id="{module_name}.{name}"' not in html:
                    missing.append(f"{module_name}.{name} (api/{page}.md)")
    assert not missing, missing


def test_every_public_submodule_and_top_level_name_has_a_page(site):
    import keras_ceb

    documented = {module for modules in API_PAGES.values() for module in modules}
    for name in keras_ceb._SUBMODULES:
        assert any(
            m == f"keras_ceb.{name}" or m.startswith(f"keras_ceb.{name}.") for m in documented
        ), name
    overview = (site / "api" / "index.html").read_text()
    for name in keras_ceb._NAMES:
        assert f"keras_ceb.{name}" in overview, name


def test_the_guide_pages_are_in_the_site(site):
    for page in sorted((REPO_ROOT / "docs" / "guide").glob("*.md")):
        assert (site / "guide" / page.stem / "index.html").is_file(), page.name


def test_the_build_needs_no_network():
    """No plugin option that fetches: no object inventories, no remote theme or assets."""
    config = (REPO_ROOT / "mkdocs.yml").read_text()
    assert "import:" not in config and "http" not in config.split("plugins:")[1]


def test_the_changelog_names_the_package_version():
    import keras_ceb

    text = (REPO_ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", text, re.M)
    assert releases and releases[0] == keras_ceb.__version__
    assert "## [Unreleased]" in text


def test_the_package_ships_no_py_typed():
    # PEP 561's marker promises annotations a type checker can use; the public surface has
    # next to none (1 of 888 functions when it was dropped), so the wheel does not claim it.
    assert not (REPO_ROOT / "keras_ceb" / "py.typed").exists()
    assert "py.typed" not in (REPO_ROOT / "setup.cfg").read_text()
