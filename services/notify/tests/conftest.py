"""The shared fixtures (`db`, `client`, `headers_for`, ...) come from
``tousu_common.testing.plugin``; this names the package they build."""

import pytest


@pytest.fixture
def service_package() -> str:
    return "tousu_notify"
