"""The agent pipeline's stages: VAD -> STT -> agent -> sentences -> TTS, and the
tools an agent may call. Transport-blind; imports only `observe` and below."""
