"""Tokens: who you are, what roles you hold, refused clearly when wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tousu_common.auth import decode_token, mint_token
from tousu_common.errors import Unauthenticated

SECRET = "s" * 48


def test_token_carries_subject_roles_and_department() -> None:
    token = mint_token(SECRET, subject="li.na", roles=["agent", "csc"], department="csc")
    principal = decode_token(token, SECRET, "tousu")
    assert principal.subject == "li.na"
    assert principal.roles == {"agent", "csc"}
    assert principal.department == "csc"
    assert principal.has_any("csc") and not principal.has_any("quality")


def test_admin_holds_every_role() -> None:
    principal = decode_token(mint_token(SECRET, subject="root", roles=["admin"]), SECRET, "tousu")
    assert principal.has_any("quality")


@pytest.mark.parametrize(
    ("token_kwargs", "secret", "issuer", "message"),
    [
        ({"ttl": timedelta(seconds=-5)}, SECRET, "tousu", "expired"),
        ({}, "t" * 48, "tousu", "invalid"),
        ({}, SECRET, "someone-else", "invalid"),
    ],
)
def test_bad_tokens_are_refused(token_kwargs, secret, issuer, message) -> None:
    token = mint_token(SECRET, subject="x", roles=["agent"], **token_kwargs)
    with pytest.raises(Unauthenticated, match=message):
        decode_token(token, secret, issuer)


def test_unknown_role_cannot_be_minted() -> None:
    with pytest.raises(ValueError, match="unknown roles"):
        mint_token(SECRET, subject="x", roles=["overlord"])


def test_garbage_is_not_a_token() -> None:
    with pytest.raises(Unauthenticated):
        decode_token("not.a.token", SECRET, "tousu")
