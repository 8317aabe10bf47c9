"""Payment gateways behind one interface: `sandbox` (local, the default) and `toss`.

Both follow Toss Payments' contract: the buyer is redirected to a success URL with
`paymentKey, orderId, amount` or to a fail URL with `code, message, orderId`; the
server then confirms, and can cancel or ask for a payment's status.
"""
from flask import current_app

from .result import GatewayResult
from .sandbox import SandboxGateway
from .toss import TossGateway

__all__ = ["GatewayResult", "SandboxGateway", "TossGateway", "get_gateway"]


def get_gateway(name: str | None = None):
    cfg = current_app.config
    name = name or cfg["PAYMENT_GATEWAY"]
    if name == "toss":
        if not cfg.get("TOSS_SECRET_KEY"):
            raise RuntimeError("PAYMENT_GATEWAY=toss needs TOSS_SECRET_KEY")
        return TossGateway(cfg["TOSS_SECRET_KEY"], cfg.get("TOSS_CLIENT_KEY"), cfg["TOSS_API_BASE"],
                           cfg.get("TOSS_TIMEOUT", 10))
    if name == "sandbox":
        return SandboxGateway()
    raise RuntimeError(f"unknown PAYMENT_GATEWAY {name!r}")
