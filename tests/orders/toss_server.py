"""A local stand-in for the Toss Payments API (stdlib http.server in a thread).

It honours the parts of Toss's contract the shop uses:

* every call needs `Authorization: Basic base64(secretKey + ":")` (401 UNAUTHORIZED_KEY);
* POST /v1/payments/confirm {paymentKey, orderId, amount} → the Payment object;
  a DONE payment confirmed under a *different* Idempotency-Key → 400 ALREADY_PROCESSED_PAYMENT;
* POST /v1/payments/{paymentKey}/cancel {cancelReason, cancelAmount?} → the Payment object;
  an already cancelled payment → 400 ALREADY_CANCELED_PAYMENT;
* GET /v1/payments/orders/{orderId} → the Payment object, or 404 NOT_FOUND_PAYMENT;
* Idempotency-Key: a replay (same key, method and path) gets the first answer again and
  moves no money; a replay while the first request is still being processed gets
  409 IDEMPOTENT_REQUEST_PROCESSING. 5xx answers are not stored, so they can be retried
  (an assumption: Toss's documentation promises the replay of the first *result*).

`authorize(order_id, amount)` plays the buyer in Toss's payment window: the payment is
IN_PROGRESS (authenticated, waiting for the shop's confirm), as when Toss redirects to
the success URL. Scenarios switch behaviour globally or per paymentKey:

  confirm: reject_card | server_error | slow | charge_then_hang | delay
  cancel:  cancel_fails | cancel_error
  status:  status_error

`slow` hangs before doing anything (and then processes the confirm), `charge_then_hang`
takes the money and then hangs: either way the shop's client times out. Hangs last
`hang_seconds` or until `release()`. `effects` lists every time money actually moved.
"""
import base64
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SECRET_KEY = "test_sk_playcation_fake_0123456789"
KST = timezone(timedelta(hours=9))

CONFIRM_SCENARIOS = ("reject_card", "server_error", "slow", "charge_then_hang", "delay")
CANCEL_SCENARIOS = ("cancel_fails", "cancel_error")
STATUS_SCENARIOS = ("status_error",)


def _now() -> str:
    return datetime.now(KST).isoformat(timespec="seconds")


@dataclass
class Call:
    method: str
    path: str
    headers: dict
    body: dict | None

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Effect:
    kind: str          # confirm | cancel
    payment_key: str
    amount: int


@dataclass
class _Answer:
    status: int
    body: dict
    effect: Effect | None = None
    hang_after: bool = False


@dataclass
class TossFake:
    secret_key: str = SECRET_KEY
    hang_seconds: float = 5.0
    delay_seconds: float = 0.3
    payments: dict = field(default_factory=dict)      # paymentKey -> Payment object
    calls: list = field(default_factory=list)
    effects: list = field(default_factory=list)
    scenarios: dict = field(default_factory=dict)     # (operation, paymentKey | None) -> scenario

    def __post_init__(self):
        self.lock = threading.RLock()
        self.released = threading.Event()
        self._idem: dict[tuple, tuple[int, dict]] = {}
        self._processing: set[tuple] = set()
        self._busy = 0
        self._idle = threading.Condition(self.lock)
        self._keys = itertools.count(1)
        self.server = None
        self.url = None

    # --- what tests call --------------------------------------------------------
    def authorize(self, order_id: str, amount: int, order_name: str = "Playcation order") -> str:
        """The buyer approved in Toss's window: an IN_PROGRESS payment, returns its paymentKey."""
        key = f"tgen_{int(time.time())}{next(self._keys):06d}"
        with self.lock:
            self.payments[key] = {
                "mId": "tosspayments", "version": "2022-11-16", "paymentKey": key, "orderId": order_id,
                "orderName": order_name, "status": "IN_PROGRESS", "method": "카드", "type": "NORMAL",
                "currency": "KRW", "country": "KR", "requestedAt": _now(), "approvedAt": None,
                "totalAmount": amount, "balanceAmount": amount, "suppliedAmount": round(amount / 1.1),
                "vat": amount - round(amount / 1.1), "taxFreeAmount": 0, "isPartialCancelable": True,
                "cancels": None, "lastTransactionKey": None,
                "card": {"issuerCode": "61", "acquirerCode": "31", "number": "43301234****123*",
                         "approveNo": None, "cardType": "신용", "ownerType": "개인"},
            }
        return key

    def complete(self, payment_key: str):
        """Toss finished a confirm on its own side (the answer was lost): the money moved."""
        with self.lock:
            payment = self.payments[payment_key]
            self._charge(payment)

    def scenario(self, operation_scenario: str, payment_key: str | None = None):
        """Switch a scenario on, for every payment or one paymentKey."""
        operation = self._operation_of(operation_scenario)
        with self.lock:
            self.scenarios[(operation, payment_key)] = operation_scenario

    def clear(self, operation: str | None = None, payment_key: str | None = None):
        with self.lock:
            for key in list(self.scenarios):
                if (operation is None or key[0] == operation) and (payment_key is None or key[1] == payment_key):
                    del self.scenarios[key]

    def release(self):
        """Let every hanging request finish now."""
        self.released.set()

    def wait_idle(self, timeout: float = 10.0):
        """Wait until no request is being handled (a hung one finished its effect and answer)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = deadline - time.monotonic()
                assert left > 0, "the Toss fake is still busy"
                self._idle.wait(left)

    def confirm_effects(self, payment_key: str | None = None) -> int:
        return sum(1 for e in self.effects if e.kind == "confirm" and payment_key in (None, e.payment_key))

    def cancel_effects(self, payment_key: str | None = None) -> int:
        return sum(1 for e in self.effects if e.kind == "cancel" and payment_key in (None, e.payment_key))

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and re.fullmatch(pattern, c.path)]

    def payment_for(self, order_id: str) -> dict | None:
        with self.lock:
            found = [p for p in self.payments.values() if p["orderId"] == order_id]
        return found[-1] if found else None

    @property
    def expected_authorization(self) -> str:
        return "Basic " + base64.b64encode(f"{self.secret_key}:".encode()).decode()

    # --- the API ------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: dict, raw: bytes):
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, _error("INVALID_REQUEST", "잘못된 요청입니다.")
        call = Call(method, path, dict(headers), body)
        with self.lock:
            self.calls.append(call)
        if call.header("Authorization") != self.expected_authorization:
            return 401, _error("UNAUTHORIZED_KEY", "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.")

        if method == "GET" and (m := re.fullmatch(r"/v1/payments/orders/([^/]+)", path)):
            return self._status(m.group(1))
        if method == "POST" and path == "/v1/payments/confirm":
            return self._idempotent(call, self._confirm)
        if method == "POST" and (m := re.fullmatch(r"/v1/payments/([^/]+)/cancel", path)):
            return self._idempotent(call, lambda c: self._cancel(m.group(1), c))
        return 404, _error("NOT_FOUND", "존재하지 않는 정보 입니다.")

    def _idempotent(self, call: Call, operation):
        key = call.header("Idempotency-Key")
        slot = (key, call.method, call.path) if key else None
        with self.lock:
            if slot in self._idem:
                return self._idem[slot]
            if slot in self._processing:
                return 409, _error("IDEMPOTENT_REQUEST_PROCESSING", "이전 멱등 요청이 처리 중입니다.")
            if slot:
                self._processing.add(slot)
        try:
            status, body = operation(call)
            with self.lock:
                if slot and status < 500:
                    self._idem[slot] = (status, body)
            return status, body
        finally:
            with self.lock:
                self._processing.discard(slot)

    def _mode(self, operation: str, payment_key: str | None) -> str | None:
        with self.lock:
            return self.scenarios.get((operation, payment_key)) or self.scenarios.get((operation, None))

    def _hang(self, seconds: float | None = None):
        self.released.wait(self.hang_seconds if seconds is None else seconds)

    def _confirm(self, call: Call):
        body = call.body or {}
        payment_key, order_id, amount = body.get("paymentKey"), body.get("orderId"), body.get("amount")
        if not (isinstance(payment_key, str) and isinstance(order_id, str) and isinstance(amount, int)):
            return 400, _error("INVALID_REQUEST", "잘못된 요청입니다.")
        mode = self._mode("confirm", payment_key)
        if mode == "slow":
            self._hang()
        elif mode == "delay":
            time.sleep(self.delay_seconds)
        if mode == "server_error":
            return 500, _error("FAILED_INTERNAL_SYSTEM_PROCESSING", "내부 시스템 처리 작업이 실패했습니다.")
        with self.lock:
            payment = self.payments.get(payment_key)
            if payment is None or payment["orderId"] != order_id:
                return 404, _error("NOT_FOUND_PAYMENT_SESSION", "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다.")
            if payment["status"] == "DONE":
                return 400, _error("ALREADY_PROCESSED_PAYMENT", "이미 처리된 결제 입니다.")
            if payment["status"] not in ("READY", "IN_PROGRESS"):
                return 403, _error("NOT_AVAILABLE_PAYMENT", f"결제가 {payment['status']} 상태입니다.")
            if amount != payment["totalAmount"]:
                return 400, _error("INVALID_REQUEST", "결제 금액이 일치하지 않습니다.")
            if mode == "reject_card":
                payment["status"] = "ABORTED"
                return 400, _error("REJECT_CARD_PAYMENT", "한도초과 혹은 잔액부족으로 결제에 실패했습니다.")
            self._charge(payment)
            answer = dict(payment)
        if mode == "charge_then_hang":
            self._hang()
        return 200, answer

    def _charge(self, payment: dict):
        payment.update(status="DONE", approvedAt=_now(), lastTransactionKey=f"txn_{next(self._keys)}")
        payment["card"]["approveNo"] = "00000000"
        self.effects.append(Effect("confirm", payment["paymentKey"], payment["totalAmount"]))

    def _cancel(self, payment_key: str, call: Call):
        body = call.body or {}
        if not body.get("cancelReason"):
            return 400, _error("INVALID_REQUEST", "취소 사유를 입력해주세요.")
        mode = self._mode("cancel", payment_key)
        if mode == "cancel_error":
            return 500, _error("FAILED_INTERNAL_SYSTEM_PROCESSING", "내부 시스템 처리 작업이 실패했습니다.")
        with self.lock:
            payment = self.payments.get(payment_key)
            if payment is None:
                return 404, _error("NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다.")
            if payment["status"] == "CANCELED":
                return 400, _error("ALREADY_CANCELED_PAYMENT", "이미 취소된 결제 입니다.")
            if mode == "cancel_fails" or payment["status"] not in ("DONE", "PARTIAL_CANCELED"):
                return 403, _error("NOT_CANCELABLE_PAYMENT", "취소 할 수 없는 결제 입니다.")
            amount = body.get("cancelAmount", payment["balanceAmount"])
            if not isinstance(amount, int) or not 0 < amount <= payment["balanceAmount"]:
                return 400, _error("NOT_CANCELABLE_AMOUNT", "취소 할 수 없는 금액 입니다.")
            payment["balanceAmount"] -= amount
            payment["status"] = "CANCELED" if payment["balanceAmount"] == 0 else "PARTIAL_CANCELED"
            payment["cancels"] = (payment["cancels"] or []) + [{
                "cancelAmount": amount, "cancelReason": body["cancelReason"], "canceledAt": _now(),
                "transactionKey": f"txn_{next(self._keys)}", "cancelStatus": "DONE"}]
            self.effects.append(Effect("cancel", payment_key, amount))
            return 200, dict(payment)

    def _status(self, order_id: str):
        payment = self.payment_for(order_id)
        if self._mode("status", payment["paymentKey"] if payment else None) == "status_error":
            return 500, _error("FAILED_INTERNAL_SYSTEM_PROCESSING", "내부 시스템 처리 작업이 실패했습니다.")
        if payment is None:
            return 404, _error("NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다.")
        with self.lock:
            return 200, dict(payment)

    @staticmethod
    def _operation_of(scenario: str) -> str:
        if scenario in CONFIRM_SCENARIOS:
            return "confirm"
        if scenario in CANCEL_SCENARIOS:
            return "cancel"
        if scenario in STATUS_SCENARIOS:
            return "status"
        raise ValueError(f"unknown scenario {scenario!r}")

    # --- the server -----------------------------------------------------------------
    def start(self) -> "TossFake":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                with fake._idle:
                    fake._busy += 1
                try:
                    raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    status, body = fake.handle(self.command, self.path, dict(self.headers.items()), raw)
                    data = json.dumps(body, ensure_ascii=False).encode()
                    try:
                        self.send_response(status)
                        self.send_header("Content-Type", "application/json; charset=utf-8")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                    except OSError:  # the client gave up waiting (a timeout scenario)
                        self.close_connection = True
                finally:
                    with fake._idle:
                        fake._busy -= 1
                        fake._idle.notify_all()

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, name="toss-fake",
                         daemon=True).start()
        return self

    def stop(self):
        self.release()
        try:
            self.wait_idle(5)
        finally:
            self.server.shutdown()
            self.server.server_close()


def _error(code: str, message: str) -> dict:
    return {"code": code, "message": message}


TOSS_TIMEOUT = 1.0  # seconds the shop waits for Toss: short, so timeout scenarios stay fast


@pytest.fixture
def toss(app, monkeypatch):
    """A running Toss fake with the app pointed at it (PAYMENT_GATEWAY=toss) for one test."""
    fake = TossFake(hang_seconds=TOSS_TIMEOUT * 6).start()
    for name, value in {"PAYMENT_GATEWAY": "toss", "TOSS_API_BASE": fake.url, "TOSS_SECRET_KEY": fake.secret_key,
                        "TOSS_CLIENT_KEY": "test_ck_playcation_fake", "TOSS_TIMEOUT": TOSS_TIMEOUT}.items():
        monkeypatch.setitem(app.config, name, value)
    try:
        yield fake
    finally:
        fake.stop()
