"""The shared fixtures (`db`, ...) come from ``tousu_common.testing.plugin``; this
names the package whose migrations they run."""

from __future__ import annotations

import pytest


@pytest.fixture
def service_package() -> str:
    return "tousu_console"
