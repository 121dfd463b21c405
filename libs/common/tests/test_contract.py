"""The published event contract (docs/) is what the code generates."""

from __future__ import annotations

from pathlib import Path

from tousu_common import contract
from tousu_common.events import CATALOG, TOPICS

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_checked_in_contract_documents_are_up_to_date() -> None:
    assert contract.stale(DOCS) == [], "run `tousu contract --write` and commit docs/"


def test_every_event_type_has_a_topic_a_schema_and_an_asyncapi_message() -> None:
    document = contract.asyncapi_document()
    for spec in CATALOG.values():
        assert spec.topic in TOPICS
        message = document["components"]["messages"][spec.type.replace(".", "_")]
        assert message["x-ce-type"] == spec.type
        assert contract.event_schema(spec)["$id"] == spec.dataschema
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(TOPICS)


def test_stale_contract_is_detected(tmp_path: Path) -> None:
    contract.write(tmp_path)
    assert contract.stale(tmp_path) == []
    (tmp_path / "asyncapi.yaml").write_text("asyncapi: 3.0.0\n")
    assert contract.stale(tmp_path) == ["asyncapi.yaml"]
