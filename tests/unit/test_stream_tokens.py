from transports.twilio.webhook import StreamTokens, public_url


def test_a_token_redeems_once_and_expires():
    now = [0.0]
    tokens = StreamTokens(ttl_s=10, now=lambda: now[0])
    a, b = tokens.issue("CA-a"), tokens.issue("CA-b")
    redeemed = tokens.redeem(a)
    assert redeemed is not None and redeemed.call_sid == "CA-a"
    assert tokens.redeem(a) is None
    now[0] = 11
    assert tokens.redeem(b) is None
    assert tokens.redeem("forged") is None


def test_a_replayed_webhook_gets_the_same_token_and_none_once_the_stream_began():
    tokens = StreamTokens(ttl_s=10)
    first = tokens.issue("CA1")
    assert [tokens.issue("CA1") for _ in range(20)] == [first] * 20
    assert tokens.redeem(first) is not None
    assert tokens.issue("CA1") is None
    assert tokens.issue("CA2") not in (None, first)


def test_the_store_is_bounded():
    tokens = StreamTokens(ttl_s=10, capacity=3)
    issued = [tokens.issue(f"CA{i}") for i in range(5)]
    assert tokens.redeem(issued[0]) is None
    assert tokens.redeem(issued[4]) is not None
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
