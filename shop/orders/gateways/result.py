"""What a gateway answers, the same shape for every gateway."""
from dataclasses import dataclass, field


@dataclass
class GatewayResult:
    outcome: str                  # ok | declined | already | error | timeout
    status: str | None = None     # the payment's status at the gateway (DONE, READY, CANCELED, ...)
    amount: int | None = None
    code: str | None = None
    message: str | None = None
    payload: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def unknown(self) -> bool:
        """The gateway may or may not have acted: never treat as failure, ask again later."""
        return self.outcome in ("error", "timeout")
