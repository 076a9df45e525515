"""Who may call, and how much: admission (pending connections before a slot),
call slots (local or cluster-wide), operator and browser tokens, and HTTP body
limits. Imports `cluster` and below."""
