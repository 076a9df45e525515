"""What every carrier's media stream shares: admission with a start deadline,
one-time tokens bound to a call, the receive loop with its error budget and
close codes, the turn-start cushion, audio in the wire's own format, and the
answer endpoint's common steps. A carrier adds only its dialect (parse and
build its messages), its answer markup and signature check (see carrier.py).
"""
