"""Transport adapters: each translates one wire to and from the shared call."""
