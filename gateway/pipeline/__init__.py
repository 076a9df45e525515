"""The agent pipeline: VAD -> STT -> agent -> sentences -> TTS, transport-blind."""
