"""The distribution: its generic top-level names come from this repository, and it is private.

`portal`, `federation`, `schemas` and `search` are generic names that other distributions use
too; CellFed keeps them, installs editable, and marks itself never to be uploaded.
"""

import configparser
import importlib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = ("portal", "federation", "search", "schemas", "cellfed")


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_each_top_level_package_is_imported_from_this_repository(name):
    module = importlib.import_module(name)
    path = Path(module.__file__).resolve()
    assert path.is_relative_to(REPO_ROOT), f"{name} is imported from {path}, not this repository"
    assert path == REPO_ROOT / name / "__init__.py"


def _setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(REPO_ROOT / "setup.cfg")
    return parser


def _requirements(text: str) -> set[str]:
    names = set()
    for line in text.split():
        for stop in "<>=[!~;":
            line = line.split(stop)[0]
        names.add(line.lower())
    return names


def test_the_distribution_is_marked_private():
    classifiers = _setup_cfg()["metadata"]["classifiers"].split("\n")
    assert "Private :: Do Not Upload" in classifiers


def test_what_the_apps_and_the_command_need_is_declared_and_benchmark_tools_are_not():
    options = _setup_cfg()
    runtime = _requirements(options["options"]["install_requires"])
    dev = _requirements(options["options.extras_require"]["dev"])
    assert "click" in runtime  # cellfed/cli/ imports it directly
    assert "tqdm" not in runtime and "tqdm" in dev  # only bench/ uses it


def test_the_console_script_is_cellfed_cli_main():
    scripts = _setup_cfg()["options.entry_points"]["console_scripts"].strip()
    assert scripts == "cellfed = cellfed.cli:main"
    from cellfed.cli import main

    assert sorted(main.commands) == [
        "alliance",
        "demo",
        "engine",
        "idp",
        "index",
        "node",
        "portal",
    ]
