"""The comparison's own gateways, started inside the gateway namespace of a
kernel path: the callers reach them only across the impairer."""

from __future__ import annotations

import secrets

from gateway.compare.netpath.namespaces import in_namespace
from gateway.compare.netpath.path import NetworkPath
from gateway.compare.target import LocalGateways, Target


class KernelGateways(LocalGateways):
    def __init__(self, path: NetworkPath) -> None:
        super().__init__()
        self.path = path
        # Records are read from the caller namespace, which is not loopback to
        # the gateway: they need the token a remote reader presents.
        self.token = secrets.token_urlsafe(16)
        self.SETTINGS = {
            **self.SETTINGS,
            "SLUICE_WEBRTC_HOST_ADDRESSES": path.gateway_address,
            "SLUICE_ALLOWED_HOSTS": path.gateway_address,
            "SLUICE_CALL_RECORDS_TOKEN": self.token,
        }

    def _command(self, port: int) -> list[str]:
        # Every address of the namespace: the path's device comes and goes
        # with its forwarder, and loopback there is the gateway's own. Nothing
        # but the caller namespace can reach it, so the callers' tokens a public
        # gateway must have are not needed (--insecure).
        command = super()._command(port)
        command[command.index("127.0.0.1")] = "0.0.0.0"
        return in_namespace(self.path.gateway_ns, [*command, "--insecure"])

    def _target(self, port: int) -> Target:
        return Target(f"http://{self.path.gateway_address}:{port}", self.token)
