"""The authorization matrices the services test with HS256 tokens, run unchanged
with tokens the dev OpenID provider issues and every app trusting only it
(``TOUSU_TEST_TOKENS=oidc`` switches the test token factory and the apps' settings).

Run in a child pytest so the switch covers whole sessions, as it would for a
developer running ``TOUSU_TEST_TOKENS=oidc pytest services``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import require_provider

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

MATRICES = [
    "services/routing/tests/test_api.py::test_triage_roles_and_missing_complaints",
    "services/routing/tests/test_api.py::test_rule_edits_are_validated_and_admin_only",
    "services/intake/tests/test_complaints_api.py"
    "::test_withdrawal_needs_the_right_role_a_known_complaint_and_a_reason",
    "services/intake/tests/test_complaints_api.py::test_contact_endpoint_gives_notify_what_it_needs",
    "services/notify/tests/test_subscriptions.py::test_only_admins_and_managers_manage_subscriptions",
    "services/rectification/tests/test_case_rules.py"
    "::test_wrong_role_or_department_is_forbidden_and_changes_nothing",
    "services/rectification/tests/rectifications/test_worklist_documents_suppliers.py"
    "::test_supplier_register_crud_is_for_supply_quality_and_admin",
]


def test_authorization_matrices_pass_with_provider_issued_tokens(tmp_path: Path) -> None:
    require_provider()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUSU_OIDC_")}
    env["TOUSU_TEST_TOKENS"] = "oidc"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rA",
            f"--basetemp={tmp_path / 'run'}",
            *MATRICES,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    # Every matrix ran (on each database backend it is parametrized with), none skipped.
    passed = [line for line in result.stdout.splitlines() if line.startswith("PASSED")]
    for node in MATRICES:
        assert any(node in line for line in passed), (node, result.stdout[-3000:])
    assert "SKIPPED" not in result.stdout
