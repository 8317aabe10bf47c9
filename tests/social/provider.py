"""A local identity provider for the social login tests, built from Authlib's server
components and served over real HTTP by werkzeug on 127.0.0.1.

One authorization server plays every provider the store knows:

* OpenID Connect (Google): discovery document, JWKS, RS256 id_token carrying the
  nonce, PKCE (S256) checked at the token endpoint;
* plain OAuth 2 (GitHub, Kakao, Naver): the same /authorize and /token, and each
  provider's own profile endpoint and JSON shape (Kakao may omit the email).

Tests script the person who "logs in" at the provider (`provider.person`) and the
consent step (`provider.consent`: "approve", "deny", or an OAuth error code to send
back), and can make the token endpoint slow (`delay`) or refuse (`token_error`), or
the id_token carry the wrong nonce (`wrong_nonce`).
"""
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from flask import Flask, jsonify, redirect, request
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server

PROVIDERS = ("google", "github", "kakao", "naver")
KEY_ID = "local-test-key"


@dataclass
class Person:
    """The resource owner at the provider."""
    sub: str = "10001"
    email: str | None = "gamer@example.com"
    email_verified: bool = True
    name: str | None = "Gamer"

    def get_user_id(self):
        return self.sub


@dataclass
class Client(ClientMixin):
    provider: str
    client_id: str
    client_secret: str
    auth_method: str

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        return scope or ""

    def check_redirect_uri(self, redirect_uri):
        # Registered "callback URL": /login/<provider>/callback on the local host, any port.
        parts = urlsplit(redirect_uri or "")
        return parts.hostname in ("localhost", "127.0.0.1") and parts.path == f"/login/{self.provider}/callback"

    def check_client_secret(self, client_secret):
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method, endpoint):
        return endpoint != "token" or method == self.auth_method

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class AuthCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: Person
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def is_expired(self):
        return time.time() > self.auth_time + 300


@dataclass
class Token(TokenMixin):
    access_token: str
    client_id: str
    scope: str
    user: Person
    issued_at: float = field(default_factory=time.time)
    expires_in: int = 3600

    def check_client(self, client):
        return client.client_id == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return time.time() > self.issued_at + self.expires_in

    def is_revoked(self):
        return False

    def get_user(self):
        return self.user

    def get_client(self):
        return None


class LocalProvider:
    def __init__(self):
        self.key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"})
        self.clients = {
            name: Client(name, f"{name}-client", f"{name}-secret",
                         "client_secret_basic" if name == "google" else "client_secret_post")
            for name in PROVIDERS}
        self.codes: dict[str, AuthCode] = {}
        self.tokens: dict[str, Token] = {}
        self._release = threading.Event()
        self.reset()
        self.app = self._build_app()
        self.url = None
        self._server = None

    # --- what a test scripts -------------------------------------------------
    def reset(self):
        self.person = Person()
        self.consent = "approve"     # "approve", "deny", or an OAuth error code to send back
        self.delay = 0.0             # seconds the token endpoint keeps the caller waiting
        self.token_error = None      # e.g. "invalid_grant": the token endpoint refuses
        self.wrong_nonce = False     # sign an id_token whose nonce is not the one asked for
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []
        self._release.set()          # let any slow request from the last test finish
        self._release = threading.Event()

    def app_config(self) -> dict:
        """Configuration for our app: all four providers, pointed here."""
        config = {}
        for name, client in self.clients.items():
            config[f"{name.upper()}_CLIENT_ID"] = client.client_id
            config[f"{name.upper()}_CLIENT_SECRET"] = client.client_secret
        config["GOOGLE_DISCOVERY_URL"] = f"{self.url}/.well-known/openid-configuration"
        for name in ("github", "kakao", "naver"):
            config[f"{name.upper()}_AUTHORIZE_URL"] = f"{self.url}/authorize"
            config[f"{name.upper()}_TOKEN_URL"] = f"{self.url}/token"
        config["GITHUB_USERINFO_URL"] = f"{self.url}/github/user"
        config["GITHUB_EMAILS_URL"] = f"{self.url}/github/user/emails"
        config["KAKAO_USERINFO_URL"] = f"{self.url}/kakao/v2/user/me"
        config["NAVER_USERINFO_URL"] = f"{self.url}/naver/v1/nid/me"
        return config

    # --- serving ----------------------------------------------------------------
    def start(self) -> "LocalProvider":
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, name="local-provider", daemon=True).start()
        return self

    def stop(self):
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    # --- the provider itself ----------------------------------------------------
    def _build_app(self) -> Flask:
        app = Flask("local_provider")
        provider = self

        class CodeGrant(AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code, req):
                data = req.payload.data
                provider.codes[code] = AuthCode(
                    code=code, client_id=req.client.client_id, redirect_uri=req.payload.redirect_uri,
                    scope=req.payload.scope or "", user=req.user, nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"))

            def query_authorization_code(self, code, client):
                item = provider.codes.get(code)
                if item and item.client_id == client.client_id and not item.is_expired():
                    return item
                return None

            def delete_authorization_code(self, authorization_code):
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code):
                return authorization_code.user

        class IdToken(OpenIDCode):
            def exists_nonce(self, nonce, req):
                return any(c.nonce == nonce for c in provider.codes.values())

            def get_authorization_code_claims(self, authorization_code):
                claims = super().get_authorization_code_claims(authorization_code)
                if provider.wrong_nonce:
                    claims["nonce"] = "replayed-from-elsewhere"
                return claims

            def resolve_client_private_key(self, client):
                return provider.key

            def get_client_claims(self, client):
                return {"iss": provider.url, "aud": [client.client_id]}

            def get_encode_header(self, client):
                return {"alg": "RS256", "kid": KEY_ID}

            def generate_user_info(self, user, scope):
                info = UserInfo(sub=user.sub)
                if user.name:
                    info["name"] = user.name
                if user.email and "email" in scope:
                    info["email"] = user.email
                    info["email_verified"] = user.email_verified
                return info

        def save_token(token, req):
            provider.tokens[token["access_token"]] = Token(
                access_token=token["access_token"], client_id=req.client.client_id,
                scope=token.get("scope", ""), user=req.user)

        server = AuthorizationServer(app, query_client=self.clients_by_id, save_token=save_token)
        server.register_grant(CodeGrant, [IdToken(require_nonce=False), CodeChallenge(required=False)])

        class Bearer(BearerTokenValidator):
            def authenticate_token(self, token_string):
                return provider.tokens.get(token_string)

        require_token = ResourceProtector()
        require_token.register_token_validator(Bearer())

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(
                issuer=self.url, authorization_endpoint=f"{self.url}/authorize",
                token_endpoint=f"{self.url}/token", userinfo_endpoint=f"{self.url}/userinfo",
                jwks_uri=f"{self.url}/jwks", response_types_supported=["code"],
                subject_types_supported=["public"], id_token_signing_alg_values_supported=["RS256"],
                scopes_supported=["openid", "email", "profile"], code_challenge_methods_supported=["S256"],
                token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"])

        @app.get("/jwks")
        def jwks():
            return jsonify(KeySet([self.key]).as_dict(private=False))

        @app.get("/authorize")
        def authorize():
            """The consent page, scripted: approve, deny, or answer with an error."""
            self.authorize_requests.append(request.args.to_dict())
            try:
                grant = server.get_consent_grant(end_user=self.person)
            except OAuth2Error as error:  # bad client or redirect_uri: never redirect back
                return jsonify(error=error.error, description=error.description), 400
            if self.consent == "approve":
                return server.create_authorization_response(grant_user=self.person, grant=grant)
            if self.consent == "deny":
                return server.create_authorization_response(grant_user=None, grant=grant)
            return redirect(add_params_to_uri(request.args["redirect_uri"],
                                              [("error", self.consent), ("state", request.args.get("state", ""))]))

        @app.post("/token")
        def token():
            self.token_requests.append(request.form.to_dict())
            if self.delay:
                self._release.wait(self.delay)
            if self.token_error:
                return jsonify(error=self.token_error, error_description="refused by the test"), 400
            return server.create_token_response()

        @app.get("/userinfo")
        @require_token("openid")
        def userinfo():
            return jsonify(IdToken().generate_user_info(current_token.user, current_token.scope))

        @app.get("/github/user")
        @require_token()
        def github_user():
            person = current_token.user
            return jsonify(id=int(person.sub), login=f"gh{person.sub}", name=person.name, email=None)

        @app.get("/github/user/emails")
        @require_token()
        def github_emails():
            person = current_token.user
            if not person.email:
                return jsonify([])
            return jsonify([{"email": person.email, "primary": True, "verified": person.email_verified,
                             "visibility": "private"}])

        @app.get("/kakao/v2/user/me")
        @require_token()
        def kakao_me():
            person = current_token.user
            account = {"profile_nickname_needs_agreement": False, "has_email": bool(person.email)}
            if person.name:
                account["profile"] = {"nickname": person.name}
            if person.email:
                account.update(email=person.email, is_email_valid=True, is_email_verified=person.email_verified,
                               email_needs_agreement=False)
            return jsonify(id=int(person.sub), connected_at="2026-01-01T00:00:00Z", kakao_account=account)

        @app.get("/naver/v1/nid/me")
        @require_token()
        def naver_me():
            person = current_token.user
            me = {"id": f"naver-{person.sub}"}
            if person.email:
                me["email"] = person.email
            if person.name:
                me["nickname"] = person.name
            return jsonify(resultcode="00", message="success", response=me)

        return app

    def clients_by_id(self, client_id):
        return next((c for c in self.clients.values() if c.client_id == client_id), None)
