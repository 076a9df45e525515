"""The ICE servers a call uses, the gateway's side and the page's alike.

With `webrtc_turn_secret` (coturn's `static-auth-secret`, with
`use-auth-secret`) every call gets time-limited TURN credentials, the TURN
REST API convention: the username is the expiry as Unix time, a colon and a
name; the password is base64(HMAC-SHA1(secret, username)). coturn checks both
without any per-user state, and a leaked pair stops working at its expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import time

from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy

from gateway.runtime.config import Settings

TURN_USER = "sluice"


def host_addresses(settings: Settings) -> list[str]:
    """The ICE host candidates to advertise: `webrtc_host_addresses` when set.
    Unset, a gateway listening only on loopback offers its loopback address,
    since aioice leaves loopback out and a local demo would find no path;
    otherwise aioice's own choice (every other interface)."""
    configured = [a.strip() for a in settings.webrtc_host_addresses.split(",") if a.strip()]
    if configured:
        return configured
    host = "127.0.0.1" if settings.host == "localhost" else settings.host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return []
    return [str(address)] if address.is_loopback else []


def turn_rest_credentials(secret: str, ttl_s: int, now: float, user: str = TURN_USER):
    """(username, password) valid until now + ttl_s."""
    username = f"{int(now) + ttl_s}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(settings: Settings, now: float | None = None) -> list[dict]:
    """As the browser's RTCPeerConnection takes them."""
    servers: list[dict] = []
    if settings.webrtc_stun_url:
        servers.append({"urls": settings.webrtc_stun_url})
    if settings.webrtc_turn_url:
        if settings.webrtc_turn_secret:
            username, credential = turn_rest_credentials(
                settings.webrtc_turn_secret,
                settings.webrtc_turn_ttl_s,
                time.time() if now is None else now,
            )
        else:
            username, credential = settings.webrtc_turn_username, settings.webrtc_turn_credential
        servers.append(
            {"urls": settings.webrtc_turn_url, "username": username, "credential": credential}
        )
    return servers


def rtc_configuration(settings: Settings, relay_only: bool = False) -> RTCConfiguration:
    # An explicit list, even empty: otherwise aiortc falls back to a public STUN server.
    servers = [RTCIceServer(**s) for s in ice_servers(settings)]
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)
