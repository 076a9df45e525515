"""The sans-I/O flow-control core: credit windows, marks, grants, pacing,
playout positions. No sockets, no sleeps, an injected clock. Imports only
`gateway.clock` and `gateway.audio`."""
