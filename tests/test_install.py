"""`pip install .` installs every module and the `kick-clip-generator` command: pyproject.toml
lists the flat modules by hand, so a module added later must be listed too."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="Python 3.11+")
ROOT = Path(__file__).resolve().parent.parent


def test_every_module_is_installed_and_the_command_exists():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = project["tool"]["setuptools"]["py-modules"]
    assert sorted(listed) == sorted(p.stem for p in ROOT.glob("*.py")), \
        "add the new module to py-modules in pyproject.toml"
    module, function = project["project"]["scripts"]["kick-clip-generator"].split(":")
    assert callable(getattr(__import__(module), function))
