from transports.media_stream.answer import public_url
from transports.media_stream.tokens import StreamTokens


def test_a_token_redeems_once_and_expires():
    now = [0.0]
    tokens = StreamTokens(ttl_s=10, now=lambda: now[0])
    a, b = tokens.issue("CA-a"), tokens.issue("CA-b")
    redeemed = tokens.redeem(a, "CA-a")
    assert redeemed is not None and redeemed.call_sid == "CA-a"
    assert tokens.redeem(a, "CA-a") is None
    now[0] = 11
    assert tokens.redeem(b, "CA-b") is None
    assert tokens.redeem("forged", "CA-a") is None


def test_a_claim_for_another_call_is_refused_without_burning_the_token():
    tokens = StreamTokens(ttl_s=10)
    token = tokens.issue("CA-real")
    wrong = tokens.redeem(token, "CA-forged")
    assert wrong is not None and wrong.call_sid == "CA-real"  # the caller refuses it
    real = tokens.redeem(token, "CA-real")
    assert real is not None and real.call_sid == "CA-real"
    assert tokens.redeem(token, "CA-real") is None  # and now it is spent


def test_a_replayed_webhook_gets_the_same_token_and_none_once_the_stream_began():
    tokens = StreamTokens(ttl_s=10)
    first = tokens.issue("CA1")
    assert [tokens.issue("CA1") for _ in range(20)] == [first] * 20
    assert tokens.redeem(first, "CA1") is not None
    assert tokens.issue("CA1") is None
    assert tokens.issue("CA2") not in (None, first)


def test_the_store_is_bounded():
    tokens = StreamTokens(ttl_s=10, capacity=3)
    issued = [tokens.issue(f"CA{i}") for i in range(5)]
    assert tokens.redeem(issued[0], "CA0") is None
    assert tokens.redeem(issued[4], "CA4") is not None
    assert tokens.issue("CA0") not in (None, issued[0])  # forgotten with its token


def test_public_url_prefers_configuration_then_forwarded_headers():
    raw = "http://10.0.0.5:8080/twilio/voice?x=1"
    assert public_url(raw, None, None, "") == raw
    assert (
        public_url(raw, "https", "voice.example.com", "")
        == "https://voice.example.com/twilio/voice?x=1"
    )
    assert (
        public_url(raw, "https", "ignored", "https://pub.example.com")
        == "https://pub.example.com/twilio/voice?x=1"
    )


def test_a_replay_long_after_the_stream_began_still_mints_nothing():
    """Signatures of Twilio, SignalWire and Plivo never expire: a signed answer
    request replayed after the token's own life must not open a second stream."""
    now = [0.0]
    tokens = StreamTokens(ttl_s=120, now=lambda: now[0])
    assert tokens.redeem(tokens.issue("CA1"), "CA1") is not None
    for later in (200.0, 3600.0, 4 * 3600.0 - 1):
        now[0] = later
        assert tokens.issue("CA1") is None, later
    now[0] = 4 * 3600.0 + 1
    assert tokens.issue("CA1") is not None  # forgotten only after any call has ended


def test_url_tokens_are_kept_out_of_the_logs():
    import logging

    from gateway.observe.logs import CallIdFilter

    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, "", 0, '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5", "/asterisk/media?token=s3cret-value&v=1"), None,
    )  # fmt: skip
    CallIdFilter().filter(record)
    assert "s3cret" not in record.getMessage() and "token=…&v=1" in record.getMessage()
