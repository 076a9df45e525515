"""The carrier accounts the integration tests place calls through."""

from gateway.testing.carrier_account import NEW_CARRIERS, URL_TOKEN, WEBHOOK_CARRIERS, Account

__all__ = ["NEW_CARRIERS", "URL_TOKEN", "WEBHOOK_CARRIERS", "Account"]
