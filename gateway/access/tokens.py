"""Who may use the browser entries and the operator endpoints.

Three checks, each pure:
- **Host**: the Host header must name this gateway (a loopback name, the
  public URL's host, the listening address, or `allowed_hosts`). DNS rebinding
  makes a hostile page same-origin with a gateway on loopback; its requests
  then carry the attacker's host name, which this refuses.
- **Origin**: a browser page may call only from an allowed origin. With
  `browser_origins` empty that is a page served under one of the allowed hosts,
  never "whatever the Host header says" (a forged Host would match it).
- **Bearer tokens**, compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def _hostname(netloc_or_url: str) -> str:
    text = netloc_or_url.strip()
    if "//" not in text:
        text = "//" + text
    try:
        return (urlsplit(text).hostname or "").lower()
    except ValueError:
        return ""


def is_loopback_address(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class HostPolicy:
    names: frozenset[str]
    any_host: bool

    @classmethod
    def from_settings(cls, host: str, public_url: str, allowed_hosts: str) -> HostPolicy:
        extra = {a.strip().lower() for a in allowed_hosts.split(",") if a.strip()}
        if "*" in extra:
            return cls(frozenset(), True)
        names = set(LOOPBACK_NAMES) | {_hostname(a) for a in extra}
        if public_url:
            names.add(_hostname(public_url))
        bound = host.strip().strip("[]").lower()
        if bound not in WILDCARD_HOSTS:
            names.add(bound)
        # Bound to every interface with no name configured: nothing to check against.
        any_host = bound in WILDCARD_HOSTS and not public_url and not extra
        return cls(frozenset(n for n in names if n), any_host)

    def host_allowed(self, host_header: str | None) -> bool:
        if self.any_host:
            return True
        name = _hostname(host_header or "")
        return name in self.names or is_loopback_address(name)

    def origin_allowed(self, origin: str | None, browser_origins: str, host_header: str) -> bool:
        """Browsers always send Origin; other clients may not, and are not browsers to protect."""
        if origin is None:
            return True
        entries = [a.strip() for a in browser_origins.split(",") if a.strip()]
        if "*" in entries:
            return True
        if entries:
            return origin in entries
        try:
            netloc = urlsplit(origin).netloc if "//" in origin else ""
        except ValueError:
            return False
        if self.any_host:
            # No names configured: same-origin is the best left (startup warns).
            return bool(netloc) and netloc == host_header
        return self.host_allowed(netloc)


def bearer(authorization: str | None) -> str:
    value = authorization or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def token_matches(given: str, expected: str) -> bool:
    """With no token configured, anything passes; otherwise a constant-time comparison."""
    if not expected:
        return True
    # surrogatepass: a peer's lone surrogate is a wrong token, not an exception.
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
