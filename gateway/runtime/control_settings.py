"""Settings of call control: the agent's end_call and transfer_call tools,
outbound calls, voicemail, and each carrier's REST API (its credentials and
base URL). Kept apart from config.py, which holds the rest."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class CallControlSettings(BaseSettings):
    end_call_tool: bool = Field(
        True, description="Offer the agent an end_call tool: hang up once the goodbye is heard"
    )
    transfer_allow: str = Field(
        "",
        description='Numbers or patterns transfer_call may use, comma-separated ("+1555*", '
        '"sip:*@example.com"); empty: the tool is not offered',
    )
    outbound_max_pending: int = Field(
        10, ge=1, le=10_000, description="Outbound calls asked of a carrier and not yet answered"
    )
    outbound_ring_timeout_s: float = Field(
        60.0, gt=0, le=600, description="An outbound call not answered within this is given up"
    )
    outbound_voicemail: Literal["off", "hangup", "message", "agent"] = Field(
        "off",
        description="Answering-machine detection on outbound calls: off, hangup (end the call), "
        "message (play voicemail_message after the beep), agent (the agent decides)",
    )
    voicemail_message: str = Field(
        "Hello, this is Sluice calling. Please call us back. Goodbye.",
        description="What outbound_voicemail = message leaves after the beep",
    )
    twilio_account_sid: str = Field(
        "", description="Twilio account SID: with twilio_auth_token, the REST API's credentials"
    )
    twilio_api_base_url: str = Field(
        "https://api.twilio.com", description="Twilio's REST API (a regional edge, or a test's)"
    )
    signalwire_project_id: str = Field(
        "", description="SignalWire project ID: the REST API's user name"
    )
    signalwire_api_token: str = Field(
        "", description="SignalWire API token: the REST API's password"
    )
    signalwire_api_base_url: str = Field(
        "", description="Your SignalWire space, e.g. https://example.signalwire.com"
    )
    telnyx_api_key: str = Field("", description="Telnyx API key: the REST API's bearer token")
    telnyx_api_base_url: str = Field(
        "https://api.telnyx.com", description="Telnyx's REST API (or a test's)"
    )
    telnyx_texml_app_id: str = Field(
        "", description="The TeXML application (its id) outbound calls are placed through"
    )
    telnyx_account_sid: str = Field(
        "", description="Your Telnyx account SID, which TeXML call updates (hang-up, transfer) name"
    )
    plivo_auth_id: str = Field(
        "", description="Plivo auth ID: with plivo_auth_token, the REST API's credentials"
    )
    vonage_application_id: str = Field(
        "", description="Your Vonage application's id: it signs REST requests with its key"
    )
    vonage_private_key: str = Field(
        "", description="The Vonage application's private key (PEM), for the REST API's JWT"
    )
    vonage_api_base_url: str = Field(
        "https://api.nexmo.com", description="Vonage's Voice API (a regional one, or a test's)"
    )
    plivo_api_base_url: str = Field(
        "https://api.plivo.com", description="Plivo's REST API (or a test's)"
    )
