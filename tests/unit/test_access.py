from gateway.access.tokens import HostPolicy, bearer, token_matches
from gateway.runtime.config import Settings
from gateway.server.exposure import listens_beyond_loopback, open_doors


def test_loopback_names_and_the_public_host_are_this_gateway_and_a_rebinding_name_is_not():
    hosts = HostPolicy.from_settings("127.0.0.1", "https://voice.example.com", "")
    assert hosts.host_allowed("127.0.0.1:8080")
    assert hosts.host_allowed("localhost:8080")
    assert hosts.host_allowed("[::1]:8080")
    assert hosts.host_allowed("voice.example.com")
    assert not hosts.host_allowed("attacker.example:8080")
    assert not hosts.host_allowed(None)


def test_origin_must_be_an_allowed_host_not_whatever_the_host_header_says():
    hosts = HostPolicy.from_settings("127.0.0.1", "", "")
    assert hosts.origin_allowed("http://127.0.0.1:8080", "", "127.0.0.1:8080")
    assert hosts.origin_allowed(None, "", "x")  # not a browser
    forged = "evil.example:8080"
    assert not hosts.origin_allowed("http://evil.example:8080", "", forged)
    assert not hosts.origin_allowed("null", "", forged)
    assert hosts.origin_allowed("https://app.example", "https://app.example", forged)
    assert not hosts.origin_allowed("https://other.example", "https://app.example", forged)


def test_every_interface_without_names_falls_back_to_same_origin():
    hosts = HostPolicy.from_settings("0.0.0.0", "", "")
    assert hosts.any_host and hosts.host_allowed("anything")
    assert hosts.origin_allowed("http://box:8080", "", "box:8080")
    assert not hosts.origin_allowed("http://evil.example", "", "box:8080")
    assert not HostPolicy.from_settings("0.0.0.0", "", "voice.example.com").any_host


def test_bearer_tokens_parse_and_compare():
    assert bearer("Bearer abc") == "abc" and bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") == "" and bearer(None) == ""
    assert token_matches("anything", "") and token_matches("s3", "s3")
    assert not token_matches("", "s3") and not token_matches("s4", "s3")


def test_a_public_address_with_an_empty_token_is_an_open_door():
    assert not listens_beyond_loopback("127.0.0.1") and not listens_beyond_loopback("::1")
    assert listens_beyond_loopback("0.0.0.0") and listens_beyond_loopback("voice.example.com")
    assert open_doors(Settings(host="127.0.0.1")) == []
    doors = open_doors(Settings(host="0.0.0.0"))
    assert len(doors) == 3 and "twilio_auth_token" in doors[0] and "browser_token" in doors[1]
    tunnelled = open_doors(Settings(host="127.0.0.1", public_url="https://voice.example.com"))
    assert len(tunnelled) == 3  # a tunnel to loopback is public too
    safe = Settings(
        host="0.0.0.0", twilio_auth_token="t", browser_token="b", call_records_token="c"
    )
    assert open_doors(safe) == []


def test_hostile_origins_and_tokens_are_refusals_not_exceptions():
    hosts = HostPolicy.from_settings("127.0.0.1", "", "")
    assert not hosts.origin_allowed("http://[", "", "127.0.0.1")
    assert not hosts.origin_allowed("http://a]b", "", "127.0.0.1")
    assert not token_matches("\ud800", "s3cret")


def test_every_served_carrier_needs_its_secret_on_a_public_address():
    base = {"host": "0.0.0.0", "browser_token": "b", "call_records_token": "c"}
    served = Settings(carriers="telnyx,asterisk", **base)
    doors = open_doors(served)
    assert len(doors) == 2
    assert "telnyx_public_key is empty" in doors[0] and "asterisk_token is empty" in doors[1]
    # Twilio is not served here: its empty token is no door.
    assert not any("twilio" in d for d in doors)
    closed = Settings(carriers="telnyx,asterisk", telnyx_public_key="k", asterisk_token="t", **base)
    assert open_doors(closed) == []
    everything = Settings(carriers="all", **base)
    assert len(open_doors(everything)) == 7
    assert open_doors(Settings(carriers="all", host="127.0.0.1")) == []
