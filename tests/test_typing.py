"""The package's annotations reach its users: PEP 561's marker ships in the wheel."""

import tomllib
from pathlib import Path

import jaxattr

ROOT = Path(__file__).resolve().parents[1]


def test_py_typed_is_in_the_package_and_in_its_package_data():
    assert (Path(jaxattr.__file__).parent / "py.typed").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = config["tool"]["setuptools"].get("package-data", {}).get("jaxattr", [])
    assert "py.typed" in shipped, "pyproject [tool.setuptools.package-data] must ship py.typed"
