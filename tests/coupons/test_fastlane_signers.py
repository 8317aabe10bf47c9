"""The fast lane's serializers (fastlane._reuse_signers) verify exactly as the library's:
the same cookies accepted, the same ones refused, key rotation and expiry included."""
import time

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from shop.coupons.fastlane import _reuse_signers


def _flask_serializer(secret, fallbacks=()):
    app = Flask(__name__)
    app.secret_key = secret
    app.config["SECRET_KEY_FALLBACKS"] = list(fallbacks)
    return SecureCookieSessionInterface().get_signing_serializer(app)


def test_accepts_and_refuses_what_flask_does():
    plain, reused = _flask_serializer("k" * 32), _reuse_signers(_flask_serializer("k" * 32))
    cookie = plain.dumps({"_user_id": "1:tok", "csrf_token": "abc"})
    for _ in range(2):  # the second call uses the signer made by the first
        assert reused.loads(cookie, max_age=60) == plain.loads(cookie, max_age=60)
    tampered = cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]
    for serializer in (plain, reused):
        with pytest.raises(BadSignature):
            serializer.loads(tampered, max_age=60)
    other = _flask_serializer("x" * 32).dumps({"_user_id": "1:tok"})
    with pytest.raises(BadSignature):
        reused.loads(other, max_age=60)
    assert reused.dumps({"a": 1}).rsplit(".", 2)[0] == plain.dumps({"a": 1}).rsplit(".", 2)[0]
    assert plain.loads(reused.dumps({"a": 1})) == {"a": 1}


def test_old_secret_keys_still_verify_after_rotation():
    old = _flask_serializer("old" * 11).dumps({"_user_id": "2:tok"})
    reused = _reuse_signers(_flask_serializer("new" * 11, fallbacks=["old" * 11]))
    assert reused.loads(old, max_age=60) == {"_user_id": "2:tok"}
    assert _reuse_signers(_flask_serializer("new" * 11)).loads(reused.dumps({"b": 2})) == {"b": 2}


def test_expiry_is_checked():
    csrf = _reuse_signers(URLSafeTimedSerializer("s" * 32, salt="wtf-csrf-token"))
    token = csrf.dumps("raw")
    assert csrf.loads(token, max_age=60) == "raw"
    time.sleep(1.1)
    with pytest.raises(SignatureExpired):
        csrf.loads(token, max_age=0)
