"""Faithful synthetic clients (Twilio, browser WebSocket, WebRTC, Chromium),
shared by the tests, the benchmarks and comparison runs. May import the server
and the transports; nothing in the product imports it."""
