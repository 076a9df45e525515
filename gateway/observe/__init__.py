"""What the gateway tells operators: Prometheus metrics (and their merge across
workers), structured logs with escaped fields, and the event loop's lag watch.
Imports only the foundations (`clock`, `audio`, `flow`)."""
