"""Refuse to serve a public address with the doors open.

A gateway bound to loopback is reachable only from this machine; one bound to
any other address is reachable by whoever finds it. There, an empty secret of
a served carrier (`twilio_auth_token`, `telnyx_public_key`, ...) means unsigned
answer requests and untokened streams are taken,
and an empty `browser_token` lets anyone place browser and WebRTC calls.
`sluice serve` refuses to start that way unless told `--insecure`, and then
says so loudly at every start.
"""

from __future__ import annotations

import ipaddress

from gateway.runtime.config import Settings
from transports.packages import installed


def listens_beyond_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return False
    try:
        return not ipaddress.ip_address(name).is_loopback
    except ValueError:
        return True  # a host name: it resolves to something callers can reach


def is_public(settings: Settings) -> bool:
    """Bound beyond loopback, or named by a public URL: a tunnel or proxy on
    loopback brings the Internet to 127.0.0.1 too."""
    return listens_beyond_loopback(settings.host) or bool(settings.public_url)


def open_doors(settings: Settings) -> list[str]:
    """What a public deployment left unset, as sentences; empty when safe or on loopback."""
    if not is_public(settings):
        return []
    missing = [
        f"{package.secret} is empty: {package.name} is served and its answer requests and "
        "media streams are taken unchecked"
        for package in installed(settings.enabled_carriers)
        if package.secret and not getattr(settings, package.secret)
    ]
    if not settings.browser_token:
        missing.append("browser_token is empty: anyone can place browser and WebRTC calls")
    if not settings.call_records_token:
        missing.append(
            "call_records_token is empty: behind a proxy on loopback every request looks local"
        )
    return missing
