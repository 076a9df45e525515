"""Voices: what listens to the caller and speaks the agent's turns, behind one
seam (`session.py`): the cascade built from `pipeline` stages, and
speech-to-speech models (OpenAI Realtime). Imports `pipeline` and below."""
