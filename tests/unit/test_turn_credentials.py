"""TURN REST API credentials, as coturn's use-auth-secret checks them."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from gateway.runtime.config import Settings
from transports.webrtc.ice_servers import ice_servers, turn_rest_credentials

pytestmark = pytest.mark.timeout(10)


def test_the_username_carries_the_expiry_and_the_password_its_hmac():
    username, password = turn_rest_credentials("s3cret", 600, now=1_700_000_000.7)
    assert username == "1700000600:sluice"
    expected = hmac.new(b"s3cret", b"1700000600:sluice", hashlib.sha1).digest()
    assert base64.b64decode(password) == expected
    other, _ = turn_rest_credentials("s3cret", 600, now=1_700_000_100)
    assert other != username  # every call's pair is its own, and expires


def test_the_page_gets_fresh_credentials_only_with_a_secret():
    static = Settings(webrtc_turn_url="turn:t.example:3478", webrtc_turn_username="u",
                      webrtc_turn_credential="p")  # fmt: skip
    assert ice_servers(static) == [{"urls": "turn:t.example:3478", "username": "u",
                                    "credential": "p"}]  # fmt: skip
    rest = Settings(webrtc_turn_url="turn:t.example:3478", webrtc_turn_secret="s3cret",
                    webrtc_turn_ttl_s=120, webrtc_stun_url="stun:t.example:3478")  # fmt: skip
    stun, turn = ice_servers(rest, now=1000)
    assert stun == {"urls": "stun:t.example:3478"}
    assert turn["username"] == "1120:sluice"
    assert turn["credential"] == turn_rest_credentials("s3cret", 120, 1000)[1]
    assert ice_servers(Settings()) == []
