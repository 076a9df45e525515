"""A TUN device: the kernel hands it whole IP packets, one per read.

Opened without IFF_VNET_HDR, so the kernel never passes it a GSO super-packet
(segmentation offload needs the virtio-net header): every read is one packet
of at most the device's MTU, which is what the impairer must see.
"""

from __future__ import annotations

import fcntl
import os
import struct

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAX_NAME = 15


def open_tun(name: str) -> int:
    """A non-blocking fd for a new TUN device called `name` (created down)."""
    if len(name) > MAX_NAME:
        raise ValueError(f"interface name {name!r} is longer than {MAX_NAME}")
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd
