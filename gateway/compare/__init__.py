"""Side-by-side comparison runs: the same speech over each transport, under the
same network profile, measured at the listener (see ../shared metrics)."""
