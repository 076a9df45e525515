"""The one error every wire's parser raises for bad input."""


class ProtocolError(Exception):
    """Bad input from a peer. `kind` names it for logs and metrics (`not_json`, …)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
