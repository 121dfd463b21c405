"""`tousu token` and `make token` against `make run`'s stack.

`tousu run` (OpenID mode, the default) lets `tousu token` ask its provider for a
token: one the provider signs, with the requested claims, for the caller that
authenticates as the dev admin client. Nobody else gets one. Without a running
provider, or with ``--auth shared-secret``, `tousu token` mints HS256 tokens with
the dev secret, which a shared-secret stack accepts.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from tousu_common.testing.wait import ProcessOutput, eventually

from .conftest import complaint_body
from .test_cli_run import _is_free, start_run

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]


def tousu_token(cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUSU_")}
    return subprocess.run(
        [sys.executable, "-m", "tousu_common.cli", "token", *options],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def make_token_options() -> list[str]:
    """The options `make token` passes to `tousu token` (read from the Makefile)."""
    recipe = re.search(
        r"^token:.*\n\t@?\$\(BIN\)/tousu token (.*)$",
        REPO.joinpath("Makefile").read_text(),
        re.MULTILINE,
    )
    assert recipe, "the Makefile's token target no longer runs `tousu token`"
    return shlex.split(recipe.group(1))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stop(runner: subprocess.Popen[str], output: ProcessOutput) -> None:
    runner.send_signal(signal.SIGINT)
    runner.wait(timeout=60)
    assert runner.returncode == 0, output.finish()


def issued_count(log: Path) -> int:
    return log.read_text().count("dev token issued") if log.exists() else 0


def test_tousu_token_is_signed_by_the_running_provider_and_the_stack_enforces_its_claims(
    tmp_path: Path,
) -> None:
    runner, base, output = start_run(tmp_path)
    intake, routing, rectification = (f"http://127.0.0.1:{base + n}" for n in range(3))
    issuer = f"http://127.0.0.1:{base + 9}"
    provider_log = tmp_path / "var" / "oidc-dev.log"
    try:
        agent = tousu_token(
            tmp_path,
            "--sub",
            "agent-7",
            "--roles",
            "agent",
            "--department",
            "csc",
            "--ttl-hours",
            "2",
        )
        assert agent.returncode == 0, agent.stderr
        assert f"signed by the dev OpenID provider {issuer}" in agent.stderr, agent.stderr
        token = agent.stdout.strip()

        # The provider's key, header and claims, as its own tokens look.
        jwks = jwt.PyJWKClient(f"{issuer}/jwks")
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "RS256" and header["typ"] == "at+jwt", header
        claims = jwt.decode(
            token,
            jwks.get_signing_key(header["kid"]).key,
            algorithms=["RS256"],
            audience="tousu",
            issuer=issuer,
        )
        assert claims["sub"] == "agent-7"
        assert claims["roles"] == ["agent"]
        assert claims["department"] == "csc"
        assert claims["client_id"] == "tousu-dev"
        assert claims["exp"] - claims["iat"] == 2 * 3600
        printed = re.search(r"dev token[^\n]*\n(\S+)", output.text)
        assert printed, output.text
        own = printed.group(1)  # what `tousu run` printed: the provider's own token
        assert jwt.get_unverified_header(own)["kid"] == header["kid"]
        assert jwt.decode(own, options={"verify_signature": False})["iss"] == claims["iss"]

        admin = tousu_token(tmp_path, "--sub", "root-1", "--roles", "admin")
        assert admin.returncode == 0, admin.stderr
        logistics = tousu_token(
            tmp_path, "--sub", "logi-1", "--roles", "department", "--department", "logistics"
        )
        assert logistics.returncode == 0, logistics.stderr
        assert issued_count(provider_log) == 3

        with httpx.Client(timeout=15) as client:
            # Roles: the agent files a complaint but may not read routing's rules;
            # the admin may.
            created = client.post(
                f"{intake}/v1/complaints", json=complaint_body(), headers=bearer(token)
            )
            assert created.status_code == 201, created.text
            rules = client.get(f"{routing}/v1/rules", headers=bearer(token))
            assert rules.status_code == 403, rules.text
            assert rules.json()["error"]["code"], rules.text
            as_admin = client.get(f"{routing}/v1/rules", headers=bearer(admin.stdout.strip()))
            assert as_admin.status_code == 200, as_admin.text

            # Department: logistics lists its own worklist, not sales'.
            staff = bearer(logistics.stdout.strip())
            own_list = client.get(f"{rectification}/v1/cases", headers=staff)
            assert own_list.status_code == 200, own_list.text
            other = client.get(f"{rectification}/v1/cases?department=sales", headers=staff)
            assert other.status_code == 403, other.text

            # `make token` gives a token this stack accepts: csc reads the complaint.
            made = tousu_token(tmp_path, *make_token_options())
            assert made.returncode == 0, made.stderr
            assert "signed by the dev OpenID provider" in made.stderr, made.stderr
            complaint_url = f"{intake}/v1/complaints/{created.json()['id']}"
            read = client.get(complaint_url, headers=bearer(made.stdout.strip()))
            assert read.status_code == 200, read.text
            assert issued_count(provider_log) == 4

            # Nobody else gets a token: no credentials, a wrong secret, another
            # client's real secret, and the tests' open endpoint is not there.
            state = json.loads((tmp_path / "var" / "oidc-dev" / "state.json").read_text())
            service_secret = state["client_secrets"]["tousu-intake"]
            asked = {"sub": "mallory", "roles": ["admin"]}
            for auth in (None, ("tousu-dev", "guessed"), ("tousu-intake", service_secret)):
                refused = client.post(f"{issuer}/_dev/token", json=asked, auth=auth)
                assert refused.status_code == 401, refused.text
                assert refused.json()["error"] == "invalid_client"
                assert "access_token" not in refused.text
            assert client.post(f"{issuer}/_test/token", json=asked).status_code == 404
            assert issued_count(provider_log) == 4, "a refused request issued a token"

            # Bad claims are named, and give no token either.
            bad = client.post(
                f"{issuer}/_dev/token",
                json={"sub": "", "roles": "admin", "ttl": 10**9},
                auth=("tousu-dev", state["client_secrets"]["tousu-dev"]),
            )
            assert bad.status_code == 400, bad.text
            for field in ("sub", "roles", "ttl"):
                assert f"{field}:" in bad.json()["error_description"]
            assert issued_count(provider_log) == 4

        # `tousu ops status` gets its admin token the same way: the stack accepts it.
        urls = {
            f"TOUSU_{name.upper()}_URL": f"http://127.0.0.1:{base + n}"
            for n, name in enumerate(("intake", "routing", "rectification", "notify"))
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOUSU_")} | urls
        status = eventually(
            lambda: subprocess.run(
                [sys.executable, "-m", "tousu_common.cli", "ops", "status"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            ),
            until=lambda done: done.returncode == 0,
            timeout=60,
            what="tousu ops status: every service ready",
        )
        assert "HTTP 401" not in status.stdout, status.stdout
        assert issued_count(provider_log) > 4  # one per attempt

        # A state directory others could read is not trusted with the secret.
        state_dir = tmp_path / "var" / "oidc-dev"
        state_dir.chmod(0o755)
        try:
            loose = tousu_token(tmp_path, "--roles", "admin")
            assert loose.returncode == 1 and not loose.stdout, loose
            assert "not private to you" in loose.stderr, loose.stderr
        finally:
            state_dir.chmod(0o700)

        # Asked for explicitly, HS256 with the dev secret; this stack refuses it.
        shared = tousu_token(tmp_path, "--roles", "admin", "--auth", "shared-secret")
        assert shared.returncode == 0, shared.stderr
        assert "HS256" in shared.stderr, shared.stderr
        secret = (tmp_path / "var" / "dev-secret").read_text().strip()
        assert jwt.decode(shared.stdout.strip(), secret, algorithms=["HS256"])["roles"] == ["admin"]
        refused = httpx.get(
            f"{routing}/v1/rules", headers=bearer(shared.stdout.strip()), timeout=15
        )
        assert refused.status_code == 401, refused.text
    finally:
        stop(runner, output)
    eventually(lambda: _is_free(base + 9), timeout=30, what="the provider stopped")

    # The provider is gone (its state stays): HS256, and stderr says so; with
    # --auth oidc, an error and no token.
    fallback = tousu_token(tmp_path, "--roles", "agent")
    assert fallback.returncode == 0, fallback.stderr
    assert f"no dev OpenID provider answers at {issuer}" in fallback.stderr
    assert "HS256" in fallback.stderr
    assert jwt.get_unverified_header(fallback.stdout.strip())["alg"] == "HS256"
    required = tousu_token(tmp_path, "--roles", "agent", "--auth", "oidc")
    assert required.returncode == 1 and not required.stdout, required
    assert "no dev OpenID provider" in required.stderr


def test_hs256_tokens_still_work_against_a_shared_secret_stack(tmp_path: Path) -> None:
    runner, base, output = start_run(tmp_path, "--auth", "shared-secret")
    intake, routing = f"http://127.0.0.1:{base}", f"http://127.0.0.1:{base + 1}"
    try:
        assert not (tmp_path / "var" / "oidc-dev").exists()
        agent = tousu_token(tmp_path, "--sub", "agent-7", "--roles", "agent", "--department", "csc")
        assert agent.returncode == 0, agent.stderr
        assert "HS256 token signed with the dev secret" in agent.stderr, agent.stderr
        assert "tousu run --auth shared-secret" in agent.stderr
        token = agent.stdout.strip()
        assert jwt.get_unverified_header(token)["alg"] == "HS256"
        with httpx.Client(timeout=15) as client:
            created = client.post(
                f"{intake}/v1/complaints", json=complaint_body(), headers=bearer(token)
            )
            assert created.status_code == 201, created.text
            assert client.get(f"{routing}/v1/rules", headers=bearer(token)).status_code == 403
            made = tousu_token(tmp_path, *make_token_options())
            assert made.returncode == 0, made.stderr
            read = client.get(
                f"{intake}/v1/complaints/{created.json()['id']}",
                headers=bearer(made.stdout.strip()),
            )
            assert read.status_code == 200, read.text
        required = tousu_token(tmp_path, "--auth", "oidc")
        assert required.returncode == 1 and not required.stdout, required
    finally:
        stop(runner, output)
