"""The browser WebSocket protocol (sluice.browser v1): credit grants and played acks."""
