"""Network namespaces for one comparison run, made with iproute2 and removed
after it. Names carry the creating process's id, so a run that crashed leaves
names the next run recognises as stale and removes."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator

PREFIX = "sluice-"
CLONE_NEWNET = 0x40000000


def unavailable() -> str | None:
    """Why this machine cannot build the path, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    return None


def ip(*args: str, namespace: str | None = None) -> None:
    argv = ["ip", *args] if namespace is None else ["ip", "-n", namespace, *args]
    subprocess.run(argv, check=True, capture_output=True, timeout=10)


def in_namespace(namespace: str, argv: list[str]) -> list[str]:
    """`argv` run inside `namespace`."""
    return ["ip", "netns", "exec", namespace, *argv]


def listed() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> list[str]:
    """Removes the namespaces of runs whose process is gone; returns their names."""
    removed = []
    for name in listed():
        pid = name[len(PREFIX) :].split("-")[0] if name.startswith(PREFIX) else ""
        if pid.isdigit() and not _alive(int(pid)):
            delete(name)
            removed.append(name)
    return removed


def create(name: str) -> None:
    ip("netns", "add", name)
    ip("link", "set", "lo", "up", namespace=name)
    # Nothing but the run's own traffic crosses the impairer: no IPv6 chatter.
    subprocess.run(
        in_namespace(name, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]),
        check=False, capture_output=True, timeout=10,
    )  # fmt: skip


def delete(name: str) -> None:
    subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=10)


@contextlib.contextmanager
def entered(name: str) -> Iterator[None]:
    """This thread inside `name` for the block: a socket made here belongs to
    that namespace for good, wherever it is used afterwards."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{name}") as there:
        if libc.setns(there.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name}")
        try:
            yield
        finally:
            if libc.setns(home.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back home")
