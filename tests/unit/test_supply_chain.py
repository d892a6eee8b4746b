"""The image's supply chain: dependencies installed from a hash-locked file that agrees with
pyproject.toml, and a base image pinned by digest."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s\\;]+)")


def locked() -> dict[str, tuple[Version, int]]:
    """Each locked package (canonical name) with its version and number of hashes."""
    pins: dict[str, tuple[Version, int]] = {}
    current = None
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match[1])
            assert current not in pins, f"{current} is locked twice"
            pins[current] = (Version(match[3]), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def declared() -> list[Requirement]:
    """The runtime dependencies and build requirements of pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [Requirement(text) for text in project["project"]["dependencies"] + project["build-system"]["requires"]]


def test_lock_pins_every_declared_requirement_within_its_range() -> None:
    """Every runtime dependency and build requirement of pyproject.toml is locked at a version it allows (run scripts/lock after changing them)."""
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is in pyproject.toml but not in requirements.lock: run scripts/lock"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock has {name}=={version}, pyproject.toml asks {requirement}: run scripts/lock"
        )


def test_every_locked_package_has_hashes_and_nothing_floats() -> None:
    """Every line of the lock is an exact pin carrying at least one sha256 hash (pip --require-hashes)."""
    pins = locked()
    assert len(pins) > 20
    assert all(hashes >= 1 for _, hashes in pins.values()), [n for n, (_, h) in pins.items() if h == 0]
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            assert PIN.match(line), f"not an exact pin: {line!r}"


def test_image_installs_from_the_lock_on_a_base_pinned_by_digest() -> None:
    """The Dockerfile installs the lock with --require-hashes and no resolution, on a base image pinned by sha256 digest."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, re.M)
    assert base and re.search(r"@sha256:[0-9a-f]{64}$", base[1]), "the default base image is not pinned by digest"
    install = re.search(r"^RUN .*pip install .*-r requirements\.lock$", dockerfile, re.M)
    assert install and "--require-hashes" in install[0] and "--no-deps" in install[0]
    assert "!requirements.lock" in (ROOT / ".dockerignore").read_text().splitlines()
