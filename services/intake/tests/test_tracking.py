"""The tracking token is derived from the secret and verified in constant time."""

from __future__ import annotations

from uuid import uuid4

from tousu_intake.domain.tracking import (
    token_hash,
    tracking_token,
    tracking_url,
    verify_tracking_token,
)

SECRET = "s" * 40


def test_token_is_stable_per_complaint_and_differs_between_complaints() -> None:
    complaint = uuid4()
    token = tracking_token(SECRET, complaint)
    assert token == tracking_token(SECRET, str(complaint))
    assert len(token) == 24 and "=" not in token
    assert token != tracking_token(SECRET, uuid4())
    assert token != tracking_token("t" * 40, complaint)


def test_verification_needs_the_right_token_and_matching_hash() -> None:
    complaint = uuid4()
    token = tracking_token(SECRET, complaint)
    assert verify_tracking_token(SECRET, complaint, token)
    assert verify_tracking_token(SECRET, complaint, token, token_hash(token))
    assert not verify_tracking_token(SECRET, complaint, token[:-1] + "A")
    assert not verify_tracking_token(SECRET, uuid4(), token)
    assert not verify_tracking_token(SECRET, complaint, token, token_hash("other"))


def test_url_carries_reference_and_token() -> None:
    url = tracking_url("https://tousu.example.com/", "TS-2026-000001", "abc_-")
    assert url == "https://tousu.example.com/track/TS-2026-000001?token=abc_-"
