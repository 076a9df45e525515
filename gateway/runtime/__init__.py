"""What one gateway process holds and hands every call: the settings model,
the shared services (models, voices, tools) and the `GatewayContext` that
transports receive. Imports `access` and below."""
