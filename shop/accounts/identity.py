"""Identity verification behind one interface, like the payment gateways: `sandbox`
(a local page, the default) now; a real provider (PASS, NICE) plugs in by name.

The contract every provider follows (a redirect round trip, as Korean
본인확인 services work):

- `start(user, return_url) -> str`: where to send the user's browser. The provider
  verifies the person and sends the browser back to `return_url` with its answer in
  the query string.
- `complete(user, args) -> VerifiedIdentity`: read that answer (a real provider
  decrypts its token, or asks its API by transaction id) and return the verified name
  and birth date. Raises IdentityError when the answer is missing, forged, expired or
  belongs to another account.

Register a provider with `PROVIDERS["name"] = factory` and set IDENTITY_PROVIDER=name.
The sandbox signs its answer with the app's secret key and gives it ten minutes: a
user can't type a birth date into the return URL.
"""
from dataclasses import dataclass
from datetime import date

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..errors import DomainError

ANSWER_MAX_AGE = 600  # seconds between the provider's confirmation and the return


class IdentityError(DomainError):
    message = _l("The identity check could not be completed. Please try again.")


class AnswerExpired(IdentityError):
    message = _l("The identity check took too long. Please start again.")


@dataclass(frozen=True)
class VerifiedIdentity:
    name: str
    birth_date: date


class SandboxIdentity:
    """A local stand-in: a page where the user types a name and birth date and confirms."""
    name = "sandbox"

    def _signer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="identity-sandbox")

    def start(self, user, return_url: str) -> str:
        return url_for("age.sandbox_page")  # it always answers to age.verify_return

    def answer(self, user, name: str, birth_date: date) -> str:
        """The signed answer the sandbox page puts in the return URL."""
        return self._signer().dumps({"uid": user.id, "name": name, "birth": birth_date.isoformat()})

    def complete(self, user, args) -> VerifiedIdentity:
        token = str(args.get("token", ""))[:1000]
        try:
            data = self._signer().loads(token, max_age=ANSWER_MAX_AGE)
        except SignatureExpired:
            raise AnswerExpired()
        except BadSignature:
            raise IdentityError()
        if data.get("uid") != user.id:
            raise IdentityError()
        return VerifiedIdentity(name=data["name"], birth_date=date.fromisoformat(data["birth"]))


PROVIDERS = {"sandbox": SandboxIdentity}


def get_provider(name: str | None = None):
    name = name or current_app.config["IDENTITY_PROVIDER"]
    if name not in PROVIDERS:
        raise RuntimeError(f"unknown IDENTITY_PROVIDER {name!r}")
    return PROVIDERS[name]()
