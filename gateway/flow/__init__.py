"""The sans-I/O flow-control core: no sockets, no sleeps, an injected clock."""
