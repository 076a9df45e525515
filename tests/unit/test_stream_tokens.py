from transports.twilio.webhook import StreamTokens, public_url


def test_a_token_redeems_once_and_expires():
    now = [0.0]
    tokens = StreamTokens(ttl_s=10, now=lambda: now[0])
    a, b = tokens.issue(), tokens.issue()
    assert tokens.redeem(a) and not tokens.redeem(a)
    now[0] = 11
    assert not tokens.redeem(b)
    assert not tokens.redeem("forged")


def test_the_store_is_bounded():
    tokens = StreamTokens(ttl_s=10, capacity=3)
    issued = [tokens.issue() for _ in range(5)]
    assert not tokens.redeem(issued[0])
    assert tokens.redeem(issued[4])


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
