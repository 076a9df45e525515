"""Where a request about a call held by another member of the cluster goes.

A member of this node (another worker) is reached on its private loopback
port, with the workers' secret; a member of another node at that node's
`node_url`, as any client would reach it. A request that was forwarded once
is never forwarded again, so a stale registry entry cannot make a loop.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.cluster.redis_state import HOP_HEADER, Member
from gateway.cluster.worker_link import FORWARDED, SECRET_HEADER


def route(
    owner: Member | None,
    me: Member,
    path: str,
    received: Mapping[str, str],
    worker_secret: str,
    carry: tuple[str, ...] = (),
) -> tuple[str, dict[str, str]] | None:
    """(URL, headers) to send the request to, or None: nobody else holds it.
    `carry`: headers of the received request to pass on to another node."""
    if owner is None or owner.id == me.id:
        return None
    if received.get(FORWARDED) or received.get(HOP_HEADER):
        return None  # forwarded once already: answer, never forward again
    if owner.node_url == me.node_url:
        if not owner.private_port:
            return None  # an earlier process of this node, gone
        return f"http://127.0.0.1:{owner.private_port}{path}", {
            FORWARDED: "1",
            SECRET_HEADER: worker_secret,
        }
    headers = {k: v for k, v in received.items() if k in carry}
    headers[HOP_HEADER] = "1"
    return owner.node_url.rstrip("/") + path, headers
