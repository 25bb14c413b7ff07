"""Payloads encode as users expect: the types applications hold, their own hooks, fast encoders."""

from __future__ import annotations

import dataclasses
import enum
import json
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from relaybox import Event, JsonEncoder, MsgspecEncoder, OrjsonEncoder, PayloadEncoder
from relaybox.core.errors import EventValidationError
from relaybox.outbox.encoding import encode


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Line:
    sku: str
    price: Decimal


WHEN = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
ID = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")
PAYLOAD = {
    "at": WHEN,
    "day": date(2026, 5, 1),
    "id": ID,
    "total": Decimal("19.99"),
    "colour": Colour.RED,
    "line": Line("sku-1", Decimal("0.10")),
}
EXPECTED = {
    "at": "2026-05-01T12:30:00+00:00",
    "day": "2026-05-01",
    "id": str(ID),
    "total": "19.99",
    "colour": "red",
    "line": {"sku": "sku-1", "price": "0.10"},
}
ENCODERS = [JsonEncoder, OrjsonEncoder, MsgspecEncoder]


def decoded(payload: bytes) -> object:
    """The payload as JSON; msgspec writes UTC as ``Z``, the others ``+00:00`` (both RFC 3339)."""
    return json.loads(payload.replace(b'00Z"', b'00+00:00"'))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_datetimes_uuids_decimals_enums_and_dataclasses_encode_the_same_way(
    encoder: type[PayloadEncoder],
) -> None:
    row = encode(Event("orders", PAYLOAD), encoder=encoder())
    assert decoded(row.payload) == EXPECTED
    assert row.content_type == "application/json"


def test_a_pydantic_model_is_dumped_in_json_mode() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Order(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        id: uuid.UUID
        at: datetime

    row = encode(Event("orders", {"order": Order(id=ID, at=WHEN)}))
    assert json.loads(row.payload) == {"order": {"id": str(ID), "at": "2026-05-01T12:30:00Z"}}


def test_the_default_encoder_never_imports_pydantic() -> None:
    code = (
        "import sys, datetime; from relaybox import Event; from relaybox.outbox.encoding import "
        "encode; encode(Event('t', {'at': datetime.datetime.now(datetime.UTC)})); "
        "print('pydantic' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("encoder", ENCODERS)
def test_a_users_default_runs_first_and_ours_still_backs_it(
    encoder: type[PayloadEncoder],
) -> None:
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    def default(value: object) -> object:
        if isinstance(value, Money):
            return {"cents": value.cents}
        raise TypeError(type(value).__name__)

    row = encode(Event("t", {"m": Money(5), "at": WHEN}), encoder=encoder(default))  # type: ignore[call-arg]
    assert decoded(row.payload) == {"m": {"cents": 5}, "at": "2026-05-01T12:30:00+00:00"}


def test_a_custom_serializer_records_its_content_type() -> None:
    class Upper:
        content_type = "text/plain; charset=utf-8"

        def __call__(self, value: object, /) -> bytes:
            return str(value).upper().encode()

    row = encode(Event("t", "hello"), encoder=Upper())
    assert (row.payload, row.content_type) == (b"HELLO", "text/plain; charset=utf-8")


def test_an_unknown_type_names_the_way_out() -> None:
    with pytest.raises(EventValidationError, match=r"payload: cannot be encoded .*default="):
        encode(Event("t", {"x": object()}))
