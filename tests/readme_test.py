"""Every file the README links to or shows is in the repository."""

import pathlib
import re

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_readmes_local_links_and_images_exist():
    missing = []
    for readme in [REPO_ROOT / "README.md", *sorted(REPO_ROOT.glob("benchmarks/**/README.md"))]:
        text = readme.read_text()
        targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'(?:src|href)="([^"]+)"', text)
        for target in targets:
            path = target.split("#")[0]
            if not path or re.match(r"[a-z]+:", path):  # An anchor or a URL.
                continue
            if not (readme.parent / path).exists():
                missing.append(f"{readme.relative_to(REPO_ROOT)}: {target}")
    assert not missing, missing
