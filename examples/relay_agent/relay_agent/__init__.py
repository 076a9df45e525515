"""An example ConversationRelay app: the shape of Twilio's own tutorial (a
FastAPI WebSocket at /ws, a conversation per callSid, the model's answer
streamed as `text` tokens), with a scripted model so it runs offline."""

from relay_agent.app import app, received, sessions

__all__ = ["app", "received", "sessions"]
