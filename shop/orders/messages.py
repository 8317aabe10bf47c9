"""What an order's failure says to its buyer, in the reader's language.

The order row keeps the failure as it happened (`failure_code`, and `failure_message`
in English for the store's own codes, or the gateway's words), so the audit trail never
depends on who was reading; the page and the payment messages say it again from the
code, and show a gateway's own message as it came."""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

FAILURES = {
    "REPLACED": _l("A newer checkout replaced this one."),
    "AMOUNT_MISMATCH": _l("The payment amount did not match the order."),
    "ALREADY_OWNED": _l("You already own these games."),
    "EXPIRED": _l("Checkout expired."),
    "PAY_PROCESS_CANCELED": _l("The payment window was closed."),
    "NOT_FOUND_PAYMENT": _l("The payment never reached the gateway."),
}


def failure_text(order) -> str:
    """Why `order` was not paid, for its buyer."""
    known = FAILURES.get(order.failure_code or "")
    if known is not None:
        return str(known)
    return order.failure_message or _("This order was not paid.")
