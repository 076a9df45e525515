"""The comparison's kernel network path: two network namespaces joined by TUN
devices, with a forwarder of Sluice's own between them that impairs IP packets.
The kernels at both ends run their real TCP, UDP and QUIC over it."""
