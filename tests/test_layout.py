"""Package layout: the wheel owns only the ``jaxattr`` name; kernels install as jaxattr.kernels."""

import os
import subprocess
import sys
import tomllib
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_every_package_folder_is_listed():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {"jaxattr.kernels"}
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, "jaxattr")):
        dirnames[:] = [d for d in dirnames if d != "kernels" and not d.startswith((".", "__"))]
        if "__init__.py" in filenames:
            rel = os.path.relpath(dirpath, ROOT)
            found.add(rel.replace(os.sep, "."))
    assert listed == found


def test_kernels_is_jaxattr_kernels():
    from jaxattr import kernels

    assert kernels.__name__ == "jaxattr.kernels"
    assert os.path.realpath(os.path.dirname(kernels.__file__)) == os.path.join(ROOT, "kernels")


@pytest.mark.slow
def test_wheel_installs_only_jaxattr(tmp_path):
    """Build the wheel, install it into a folder and import it from outside the repo."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(tmp_path / "whl"),
            ROOT,
        ],
        check=True,
        capture_output=True,
    )
    (whl,) = (tmp_path / "whl").iterdir()
    tops = {n.split("/")[0] for n in zipfile.ZipFile(whl).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"jaxattr"}
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(whl),
        ],
        check=True,
        capture_output=True,
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    # jaxattr._cli too: the console script's entry point lives there
    code = (
        "import importlib.util, jaxattr._cli, jaxattr.kernels as k; "
        f"assert k.__file__.startswith({str(target)!r}), k.__file__; "
        f"assert jaxattr._cli.__file__.startswith({str(target)!r}); "
        "assert importlib.util.find_spec('kernels') is None; print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=str(tmp_path), env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr


def _version() -> str:
    import ast

    with open(os.path.join(ROOT, "jaxattr", "_version.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    (v,) = [
        n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and n.targets[0].id == "__version__"
    ]
    return v


def test_license_is_the_apache_text_pyproject_declares():
    project = _pyproject()["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as f:
        text = f.read()
    for line in (
        "Apache License",
        "Version 2.0, January 2004",
        "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
        "9. Accepting Warranty or Additional Liability.",
        "END OF TERMS AND CONDITIONS",
    ):
        assert line in text


def test_citation_and_changelog_name_this_version():
    yaml = pytest.importorskip("yaml")
    with open(os.path.join(ROOT, "CITATION.cff"), encoding="utf-8") as f:
        cff = yaml.safe_load(f)
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["version"] == _version()
    assert cff["license"] == _pyproject()["project"]["license"]
    paper = cff["preferred-citation"]
    assert paper["title"] == "Attributing Emergence in Million-Agent Systems"
    assert paper["url"] == "https://arxiv.org/abs/2605.11404"
    assert paper in cff["references"]
    with open(os.path.join(ROOT, "CHANGELOG.md"), encoding="utf-8") as f:
        heads = [ln for ln in f.read().splitlines() if ln.startswith("## ")]
    assert heads[0] == "## [Unreleased]"
    assert any(h.startswith(f"## [{_version()}]") for h in heads)
