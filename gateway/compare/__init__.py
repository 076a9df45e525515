"""Side-by-side comparison runs: the same speech over each transport, under the
same network profile, measured at the listener (see docs/reference/metrics.md).
Built on `testing`; only the CLI imports it."""
