"""constraints.txt (uv pip compile, see the README) pins every dependency the image and CI install, each pin
inside pyproject.toml's range, and the Dockerfile and .ci/run install with it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)(?:\s*;\s*(.+))?$")


def pins() -> dict[str, tuple[str, str | None]]:
    """name -> (version, marker) for each pin line; comments and `# via` lines skipped."""
    out: dict[str, tuple[str, str | None]] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = PIN.match(line.strip())
        assert m, f"constraints.txt: not a pin: {line!r}"
        name = canonicalize_name(m.group(1))
        assert name not in out or m.group(3), f"{name} pinned twice without markers"
        out.setdefault(name, (m.group(2), m.group(3)))
    return out


def direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in [*project["dependencies"], *extras["test"], *extras["research"]]]


def test_every_direct_dependency_is_pinned_inside_its_range() -> None:
    pinned = pins()
    assert len(pinned) > 50  # the transitive ones too, not only the direct ones
    assert "gapcast" not in pinned  # the project itself installs from the checkout
    for req in direct_requirements():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{name} is not in constraints.txt: regenerate it (README, Reproducible builds)"
        version, marker = pinned[name]
        assert req.specifier.contains(version, prereleases=True), f"{name}=={version} is outside {req.specifier}"
        if marker:
            Marker(marker)  # parses


def test_the_image_and_ci_install_with_the_constraints() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"COPY [^\n]*constraints\.txt", dockerfile)
    assert "pip wheel --wheel-dir /wheels --constraint constraints.txt ." in dockerfile
    assert "-c constraints.txt -e '.[test,research]'" in (ROOT / ".ci" / "run").read_text()
    assert "!constraints.txt" in (ROOT / ".dockerignore").read_text().splitlines()
