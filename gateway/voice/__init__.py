"""Voices: what listens to the caller and speaks the agent's turns (see session.py)."""
