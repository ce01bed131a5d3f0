"""The layers' import contracts in pyproject.toml hold: a wrong import fails here, naming the layers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_imports_point_from_the_entry_points_inwards():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_no_package_imports_a_package_that_imports_it_back():
    """Beyond the layers: inside a layer too, two packages never reach each other (a cycle between
    sibling packages would make neither understandable alone)."""
    import grimp

    graph = grimp.build_graph("bot", "storage")
    # "bot" itself holds every layer: the packages compared are its layers and theirs.
    packages = sorted(m for m in graph.modules if graph.find_children(m) and m != "bot")
    edges = set()
    for package in packages:
        for other in packages:
            if package != other and not other.startswith(package + ".") and not package.startswith(other + "."):
                if graph.find_matching_direct_imports(import_expression=f"{package}.** -> {other}.**") or \
                        graph.find_matching_direct_imports(import_expression=f"{package}.** -> {other}"):
                    edges.add((package, other))
    cycles = sorted((a, b) for a, b in edges if (b, a) in edges and a < b)
    assert not cycles, cycles


def test_the_architecture_page_names_only_what_exists():
    """docs/architecture.md follows an update function by function (`path` · `Name.attr`): each name
    it gives must be found in that file, so the page cannot drift from the code unnoticed."""
    import importlib
    import re

    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = re.findall(r"`([\w/]+\.py)` · `([\w.]+)`", page)
    assert len(named) >= 18
    for path, name in named:
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        found: object = module
        for part in name.split("."):
            assert hasattr(found, part), f"docs/architecture.md names {path} · {name}, which does not exist"
            found = getattr(found, part)
    for folder in re.findall(r"`((?:bot|storage|tests)/[\w/]+/)`", page):
        assert (ROOT / folder).is_dir(), folder
