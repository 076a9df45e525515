"""Audio formats and the conversions that happen at the edges, and the
byte cache for audio made once and said by many calls. Imports nothing else of
the gateway but `gateway.clock`."""
