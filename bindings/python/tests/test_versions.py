"""One version for the whole project: ``[workspace.package] version`` in the top ``Cargo.toml``.
Every crate inherits it, the Python distribution reads it (maturin's dynamic version) and the
library reports it; the copies that Maven and the README must spell out are checked against it."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path
from xml.etree import ElementTree

import pylocksfile

ROOT = Path(__file__).resolve().parents[3]
POM = "{http://maven.apache.org/POM/4.0.0}"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the test environment's Python is 3.11 or later
    tomllib = None


def toml(path: Path) -> dict:
    assert tomllib is not None
    with open(path, "rb") as file:
        return tomllib.load(file)


def workspace_version() -> str:
    version = toml(ROOT / "Cargo.toml")["workspace"]["package"]["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[-+].*)?", version), version
    return version


def test_every_crate_inherits_the_workspace_version():
    members = toml(ROOT / "Cargo.toml")["workspace"]["members"]
    assert members
    for member in members:
        package = toml(ROOT / member / "Cargo.toml")["package"]
        assert package["version"] == {"workspace": True}, member


def test_the_python_distribution_and_library_carry_the_workspace_version():
    project = toml(ROOT / "bindings" / "python" / "pyproject.toml")["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
    assert pylocksfile.__version__ == workspace_version()
    assert importlib.metadata.version("pylocksfile") == workspace_version()


def test_the_maven_poms_spell_the_workspace_version():
    kotlin = ROOT / "bindings" / "kotlin"
    assert ElementTree.parse(kotlin / "pom.xml").getroot().findtext(f"{POM}version") == workspace_version()
    for consumer in ("kotlin", "java"):
        pom = ElementTree.parse(kotlin / "consumers" / consumer / "pom.xml").getroot()
        assert pom.findtext(f"{POM}properties/{POM}locksfile.version") == workspace_version(), consumer


def test_the_readme_names_the_workspace_version():
    readme = (ROOT / "README.md").read_text()
    named = re.findall(r"locksfile[-:](\d+\.\d+\.\d+)", readme, re.IGNORECASE) + re.findall(r"<version>(\d+\.\d+\.\d+)</version>", readme)
    assert named
    assert set(named) == {workspace_version()}


def test_the_long_description_is_the_package_readme():
    readme = (ROOT / "bindings" / "python" / "README.md").read_text()
    assert toml(ROOT / "bindings" / "python" / "pyproject.toml")["project"]["readme"] == "README.md"
    metadata = importlib.metadata.metadata("pylocksfile")
    assert metadata["Description-Content-Type"].startswith("text/markdown")
    assert metadata.get_payload().strip() == readme.strip()  # type: ignore[attr-defined]
    for section in ("## Install", "## Use", "## The original API", "## Links"):
        assert section in readme
    assert "LocksFile(" in readme and "pylocksfile(locksfile_path=" in readme and "timedelta" in readme


def test_the_package_readme_examples_run(tmp_path, monkeypatch):
    readme = (ROOT / "bindings" / "python" / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
