"""Standard Webhooks verification on raw bytes."""

import pytest

from webhooks.signature import MalformedHeaders, StaleTimestamp, VerificationError, secret_key, sign, verify

# The test vector published with the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER_SECRET = "whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA=="


def _headers(signature=SPEC_SIGNATURE, timestamp=SPEC_TIMESTAMP, event_id=SPEC_ID):
    return {"webhook-id": event_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_the_specifications_test_vector_verifies():
    assert verify(secrets=[SPEC_SECRET], headers=_headers(), body=SPEC_BODY, now=SPEC_TIMESTAMP) == SPEC_ID


def test_our_signer_reproduces_the_vector():
    assert "v1," + sign(secret_key(SPEC_SECRET), SPEC_ID, str(SPEC_TIMESTAMP), SPEC_BODY) == SPEC_SIGNATURE


@pytest.mark.parametrize("position", [0, 5, len(SPEC_BODY) - 1])
def test_one_changed_byte_of_the_body_is_refused(position):
    body = bytearray(SPEC_BODY)
    body[position] ^= 0x01
    with pytest.raises(VerificationError) as caught:
        verify(secrets=[SPEC_SECRET], headers=_headers(), body=bytes(body), now=SPEC_TIMESTAMP)
    assert caught.value.status_code == 401


def test_a_changed_id_or_timestamp_is_refused():
    with pytest.raises(VerificationError):
        verify(secrets=[SPEC_SECRET], headers=_headers(event_id="msg_other"), body=SPEC_BODY, now=SPEC_TIMESTAMP)
    with pytest.raises(VerificationError):
        verify(secrets=[SPEC_SECRET], headers=_headers(timestamp=SPEC_TIMESTAMP + 1), body=SPEC_BODY,
               now=SPEC_TIMESTAMP)


@pytest.mark.parametrize(("offset", "accepted"), [(-301, False), (-299, True), (299, True), (301, False)])
def test_the_timestamp_must_be_within_five_minutes_either_way(offset, accepted):
    timestamp = SPEC_TIMESTAMP + offset
    signature = "v1," + sign(secret_key(SPEC_SECRET), SPEC_ID, str(timestamp), SPEC_BODY)
    call = {"secrets": [SPEC_SECRET], "headers": _headers(signature, timestamp), "body": SPEC_BODY,
            "now": SPEC_TIMESTAMP}
    if accepted:
        assert verify(**call) == SPEC_ID
    else:
        with pytest.raises(StaleTimestamp) as caught:
            verify(**call)
        assert caught.value.status_code == 401


def test_any_one_of_several_signatures_may_match_during_a_rotation():
    old = sign(secret_key(OTHER_SECRET), SPEC_ID, str(SPEC_TIMESTAMP), SPEC_BODY)
    header = f"v1,{old} v1a,ignored {SPEC_SIGNATURE}"
    assert verify(secrets=[SPEC_SECRET], headers=_headers(header), body=SPEC_BODY, now=SPEC_TIMESTAMP) == SPEC_ID


def test_our_second_secret_accepts_deliveries_signed_with_it():
    signed_with_other = "v1," + sign(secret_key(OTHER_SECRET), SPEC_ID, str(SPEC_TIMESTAMP), SPEC_BODY)
    headers = _headers(signed_with_other)
    assert verify(secrets=[SPEC_SECRET, OTHER_SECRET], headers=headers, body=SPEC_BODY, now=SPEC_TIMESTAMP)
    with pytest.raises(VerificationError):
        verify(secrets=[SPEC_SECRET], headers=headers, body=SPEC_BODY, now=SPEC_TIMESTAMP)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TIMESTAMP)},
        {"webhook-id": SPEC_ID, "webhook-signature": SPEC_SIGNATURE},
        {"webhook-timestamp": str(SPEC_TIMESTAMP), "webhook-signature": SPEC_SIGNATURE},
        _headers(timestamp="yesterday"),
        _headers(timestamp="-5"),
        _headers(event_id="has space"),
        _headers(signature="   "),
    ],
)
def test_missing_or_malformed_headers_are_a_400(headers):
    with pytest.raises(MalformedHeaders) as caught:
        verify(secrets=[SPEC_SECRET], headers=headers, body=SPEC_BODY, now=SPEC_TIMESTAMP)
    assert caught.value.status_code == 400


def test_a_signature_without_the_v1_prefix_does_not_count():
    bare = SPEC_SIGNATURE.removeprefix("v1,")
    with pytest.raises(VerificationError):
        verify(secrets=[SPEC_SECRET], headers=_headers(bare), body=SPEC_BODY, now=SPEC_TIMESTAMP)
