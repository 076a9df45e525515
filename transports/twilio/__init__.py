"""Twilio Media Streams: the bidirectional `<Connect><Stream>` WebSocket."""
