"""Standard Webhooks signing and verification, and reading Retry-After."""

from __future__ import annotations

import base64
from email.utils import formatdate

import pytest

from relaybox.core.errors import ConfigurationError
from relaybox.webhooks import WebhookVerificationError, sign, signature, verify

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD = "whsec_" + base64.b64encode(b"the previous secret").decode()
KEY = base64.b64decode(SECRET.removeprefix("whsec_"))
NOW = 1_614_265_330


def headers(signed: str, *, stamp: int = NOW, message_id: str = "msg_1") -> dict[str, str]:
    return {"webhook-id": message_id, "webhook-timestamp": str(stamp), "webhook-signature": signed}


def test_the_standard_webhooks_reference_signature_is_reproduced() -> None:
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signature(KEY, "msg_p5jXN8AQM9LWM0D4loKWxJek", NOW, body) == expected


def test_a_signed_webhook_verifies_and_yields_its_id() -> None:
    body = b"\x00payload\xff"
    signed = sign([KEY], "msg_1", NOW, body)
    assert verify(body, headers(signed), [SECRET], now=NOW + 10) == "msg_1"


def test_during_rotation_either_secret_verifies_the_two_signatures() -> None:
    old_key = base64.b64decode(OLD.removeprefix("whsec_"))
    signed = sign([old_key, KEY], "msg_1", NOW, b"{}")
    assert len(signed.split()) == 2
    assert verify(b"{}", headers(signed), [SECRET], now=NOW) == "msg_1"
    assert verify(b"{}", headers(signed), [OLD], now=NOW) == "msg_1"


@pytest.mark.parametrize(
    ("body", "stamp", "now", "problem"),
    [
        (b"tampered", NOW, NOW, "no webhook-signature matches"),
        (b"{}", NOW, NOW + 301, "too old"),
        (b"{}", NOW, NOW - 301, "in the future"),
    ],
)
def test_a_bad_signature_or_a_stale_timestamp_is_rejected(
    body: bytes, stamp: int, now: int, problem: str
) -> None:
    signed = sign([KEY], "msg_1", stamp, b"{}")
    with pytest.raises(WebhookVerificationError, match=problem):
        verify(body, headers(signed, stamp=stamp), [SECRET], now=now)


def test_a_signature_under_another_secret_or_a_missing_header_is_rejected() -> None:
    signed = sign([KEY], "msg_1", NOW, b"{}")
    with pytest.raises(WebhookVerificationError, match="no webhook-signature"):
        verify(b"{}", headers(signed), [OLD], now=NOW)
    with pytest.raises(WebhookVerificationError, match="webhook-id header is missing"):
        verify(b"{}", {"webhook-timestamp": str(NOW), "webhook-signature": signed}, [SECRET])


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    from relaybox.adapters.webhooks.responses import seconds

    assert seconds("120") == 120.0
    assert seconds(formatdate(NOW + 30, usegmt=True), now=NOW) == pytest.approx(30.0)
    assert seconds(formatdate(NOW - 30, usegmt=True), now=NOW) == 0.0
    assert seconds("soon") is None
    assert seconds(None) is None


def test_a_webhook_url_needs_a_secret_unless_declared_unsigned() -> None:
    from relaybox.adapters.webhooks import WebhookAddress

    with pytest.raises(ConfigurationError, match=r"\$HOOK_KEY") as caught:
        WebhookAddress.parse("http://h/in/{topic}?secret_env=HOOK_KEY", environ={})
    assert "whsec" in str(caught.value)
    unsigned = WebhookAddress.parse("http://h/in?unsigned=1&team=a", environ={})
    assert unsigned.keys == ()
    assert unsigned.url("orders") == "http://h/in?team=a"
    rotating = WebhookAddress.parse(
        "http://h/in/%7Btopic%7D", environ={"RELAYBOX_WEBHOOK_SECRET": f"{SECRET} {OLD}"}
    )
    assert len(rotating.keys) == 2
    assert rotating.url("orders.paid") == "http://h/in/orders.paid"
    assert rotating.url("https://elsewhere/x") == "https://elsewhere/x"
    assert SECRET not in repr(rotating)
