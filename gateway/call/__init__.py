"""One call: the sans-I/O conversation core (turn rules, barge-in, provisional
interrupts), the commands it returns, the interrupt policy, the outbound pump
that sends within credit, the `Call` that runs them, and the record of what the
call heard. Imports `voice` and below; never a transport or the server."""
