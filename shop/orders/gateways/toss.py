"""Toss Payments: confirm, cancel and status over its REST API."""
import base64
import logging
from urllib.parse import quote

import requests
from flask_babel import gettext as _

from .result import GatewayResult

log = logging.getLogger(__name__)

# Answers that do not say whether the gateway acted: a request with the same
# idempotency key still being processed, throttling, Toss's internal errors.
UNKNOWN_STATUSES = (408, 409, 429)
UNKNOWN_CODES = ("IDEMPOTENT_REQUEST_PROCESSING", "FAILED_INTERNAL_SYSTEM_PROCESSING",
                 "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", "UNKNOWN_PAYMENT_ERROR", "PROVIDER_ERROR")
ALREADY_CODES = ("ALREADY_PROCESSED_PAYMENT", "ALREADY_CANCELED_PAYMENT")


class TossGateway:
    name = "toss"

    def __init__(self, secret_key: str, client_key: str | None, base_url: str, timeout: float):
        self.client_key = client_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        token = base64.b64encode(f"{secret_key}:".encode()).decode()
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Basic {token}", "Content-Type": "application/json"})

    def _call(self, method: str, path: str, body: dict | None = None, idempotency_key: str | None = None):
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        try:
            res = self.session.request(method, self.base_url + path, json=body, headers=headers,
                                       timeout=(3, self.timeout))
        except requests.Timeout:
            return GatewayResult("timeout", code="TIMEOUT", message=_("The payment service did not answer in time."))
        except requests.RequestException as exc:
            return GatewayResult("error", code="NETWORK_ERROR", message=str(exc)[:300])
        try:
            data = res.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        code = str(data.get("code") or f"HTTP_{res.status_code}")[:80]
        if res.status_code >= 500 or res.status_code in UNKNOWN_STATUSES or code in UNKNOWN_CODES:
            return GatewayResult("error", code=code, message=data.get("message", _("The payment service failed.")),
                                 payload=data)
        if res.status_code >= 400:
            outcome = "already" if code in ALREADY_CODES else "declined"
            return GatewayResult(outcome, code=code, message=data.get("message", _("Payment was refused.")),
                                 payload=data)
        return GatewayResult("ok", status=data.get("status"), amount=data.get("totalAmount"), payload=data)

    def confirm(self, payment_key: str, order_id: str, amount: int, idempotency_key: str) -> GatewayResult:
        return self._call("POST", "/v1/payments/confirm",
                          {"paymentKey": payment_key, "orderId": order_id, "amount": amount}, idempotency_key)

    def cancel(self, payment_key: str, reason: str, idempotency_key: str, amount: int | None = None) -> GatewayResult:
        body = {"cancelReason": reason}
        if amount is not None:
            body["cancelAmount"] = amount
        # The key came in on the buyer's redirect: quote it so it can never change the path.
        return self._call("POST", f"/v1/payments/{quote(payment_key, safe='')}/cancel", body, idempotency_key)

    def status(self, order_id: str) -> GatewayResult:
        return self._call("GET", f"/v1/payments/orders/{quote(order_id, safe='')}")
