"""Development SMTP sink: a real SMTP server (aiosmtpd) that writes each message to
a folder, which the dev inbox page (`/dev/inbox`) reads. `make run`'s launcher
(shop/dev/server.py) runs it in its own process when no MAIL_SERVER is configured;
the tests start the same handler on a free port."""
import email
import email.policy
import logging
import os
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller


class FolderHandler:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.folder / (name + ".part")
        tmp.write_bytes(envelope.original_content or envelope.content)
        os.replace(tmp, self.folder / name)
        return "250 Message accepted for delivery"


def start_sink(folder, host="127.0.0.1", port=8025) -> Controller:
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP line at INFO
    controller = Controller(FolderHandler(folder), hostname=host, port=port)
    controller.start()
    return controller


def read_messages(folder) -> list[dict]:
    """Newest first: id, to, subject, date, text, html."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.eml"), reverse=True):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        out.append({
            "id": path.stem,
            "to": msg.get("To", ""),
            "sender": msg.get("From", ""),
            "subject": msg.get("Subject", ""),
            "date": _parse_date(msg.get("Date")),
            "text": text.get_content() if text else "",
            "html": html.get_content() if html else "",
        })
    return out


def _parse_date(value):
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
