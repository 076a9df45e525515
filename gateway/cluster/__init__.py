"""What several gateway nodes (and several workers of one node) share: the
Redis state for cluster admission, tokens and the call registry, routing to the
node that holds a call, and the signed link between workers. Imports `call`
and below."""
