"""Audio formats and the conversions that happen at the edges."""
