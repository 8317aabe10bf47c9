"""What the back office calls its codes: roles, account and mail states, coupon windows and
audit actions, in the reader's language. The codes stay in the database and the URLs;
templates show `admin_label(kind, code)`, which falls back to the code itself."""
from flask_babel import lazy_gettext as _l

LABELS = {
    "role": {"customer": _l("Customer"), "publisher": _l("Publisher"), "admin": _l("Admin")},
    "user_status": {"active": _l("Active"), "suspended": _l("Suspended"), "withdrawn": _l("Withdrawn"),
                    "purged": _l("Erased")},
    "email_status": {"queued": _l("Queued"), "retrying": _l("Retrying"), "sent": _l("Sent"),
                     "failed": _l("Failed")},
    "email_kind": {"verify_email": _l("Verification code"), "email_change": _l("New email address"),
                   "password_reset": _l("Password reset"), "password_changed": _l("Password changed"),
                   "account_withdrawn": _l("Account closed"), "receipt": _l("Receipt"), "refund": _l("Refund"),
                   "line_refund": _l("Refund of one game"),
                   "vip_upgrade": _l("VIP grade up"), "vip_downgrade": _l("VIP grade down"),
                   "game_delisted": _l("Game delisted")},
    "window": {"upcoming": _l("Upcoming"), "open": _l("Open"), "closed": _l("Closed")},
    "game_status": {"listed": _l("Listed"), "delisted": _l("Delisted")},
    # The fields an audit row's before/after name (shown with the code beside it).
    "field": {
        "status": _l("Status"), "moderation_note": _l("Moderation note"), "role": _l("Role"),
        "suspended_at": _l("Suspended at"), "closes_at": _l("Closes at"), "opens_at": _l("Opens at"),
        "name": _l("Name"), "description": _l("Description"), "discount_type": _l("Discount type"),
        "discount_value": _l("Discount"), "discount_cap": _l("Discount cap"), "quantity": _l("Quantity"),
        "min_order_amount": _l("Minimum order"), "valid_days": _l("Valid for (days)"),
        "valid_until": _l("Valid until"), "scope_tag_id": _l("Only games with tag"),
        "scope_publisher_id": _l("Only games by publisher"), "entry": _l("Stream entry"), "user": _l("User"),
        "db_issued": _l("Issued (database)"), "redis_claimed": _l("Claimed (Redis)"), "stock": _l("Stock"),
        "repaired_claimers": _l("Claimers repaired"), "rebuilt": _l("Rebuilt from the database"),
        "event_id": _l("Event"),
    },
    "action": {
        "coupon_event.create": _l("Coupon event created"),
        "coupon_event.update": _l("Coupon event edited"),
        "coupon_event.close": _l("Coupon event closed"),
        "coupon_event.reconcile": _l("Coupon event reconciled"),
        "coupon_event.retry_dead_letter": _l("Failed claim retried"),
        "email.resend": _l("Email resent"),
        "game.delist": _l("Game delisted"),
        "game.relist": _l("Game relisted"),
        "job.run": _l("Job run"),
        "order.refund": _l("Order refunded"),
        "user.restore": _l("Account restored"),
        "user.role": _l("Role changed"),
        "user.suspend": _l("Account suspended"),
    },
}


def label(kind: str, code) -> str:
    """The shown name of `code` among the `kind` codes (the code itself when unknown)."""
    found = LABELS.get(kind, {}).get(code)
    return str(found) if found is not None else ("" if code is None else str(code))


def choices(kind: str, codes) -> list[tuple[str, object]]:
    """(code, lazy label) pairs for a select field, in the order of `codes`."""
    return [(code, LABELS[kind].get(code, code)) for code in codes]
