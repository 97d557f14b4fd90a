"""A first client of Gatehouse, using only the client that openapi-python-client generates
from docs/openapi.json (the package `gatehouse_client`, which scripts/check-clients puts
on PYTHONPATH). Every API call goes through it; reading the verification mail that the
service sent to the SMTP sink (mail_sink.py) is the harness's part.

    python flow.py BASE_URL MAIL_DIR

Registers with nested preferences, verifies the address with the mailed token, signs in,
reads and patches its profile, uploads and downloads an avatar, reads the JWKS and its own
audit trail, and signs out. Exits non-zero, saying where, at the first surprise.
"""

import base64
import io
import json
import re
import secrets
import struct
import sys
import time
import zlib
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any, NoReturn

from gatehouse_client import AuthenticatedClient, Client
from gatehouse_client.api.auth import jwks, login, logout, register, verify_email
from gatehouse_client.api.me import audit_events, get_me, put_avatar, update_me
from gatehouse_client.api.users import avatar
from gatehouse_client.models import (
    AuditEventsAction,
    AuditPage,
    JwkSet,
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    RegisterRequestPreferencesType0,
    Status,
    TokenPairView,
    TokenRequest,
    UpdateProfileRequest,
    UpdateProfileRequestPreferencesType0,
    UserView,
)
from gatehouse_client.types import File, Unset


def fail(step: str, got: object) -> NoReturn:
    sys.exit(f"flow.py: {step}: unexpected {got!r}")


def mailed_token(mail_dir: Path, address: str, timeout: float = 30.0) -> str:
    """The token of the verification link mailed to `address` (the harness's part)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.eml")):
            message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            if address not in str(message["To"]):
                continue
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    found = re.search(r"/verify-email\?token=([A-Za-z0-9_-]+)", part.get_content())
                    if found:
                        return found.group(1)
        time.sleep(0.2)
    sys.exit(f"flow.py: no verification mail to {address} in {mail_dir} within {timeout:.0f}s")


def tiny_png() -> bytes:
    """A 2x2 RGB PNG, built here so that the flow needs no file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x80\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def main(base_url: str, mail_dir: Path) -> None:
    public = Client(base_url=base_url, raise_on_unexpected_status=True)
    email = f"ada-{secrets.token_hex(4)}@example.com"
    password = f"flow {secrets.token_urlsafe(12)}"
    preferences: dict[str, Any] = {"theme": "dark", "editor": {"tabs": 4, "keys": ["vim", None], "font": {"size": 14}}}

    registered = register.sync(
        client=public,
        body=RegisterRequest(
            email=email,
            password=password,
            name="Ada Lovelace",
            preferences=RegisterRequestPreferencesType0.from_dict(preferences),
        ),
    )
    if not isinstance(registered, UserView) or registered.status != Status.PENDING_VERIFICATION:
        fail("register", registered)
    if registered.preferences.to_dict() != preferences:
        fail("register: preferences", registered.preferences.to_dict())

    verified = verify_email.sync(client=public, body=TokenRequest(token=mailed_token(mail_dir, email)))
    if not isinstance(verified, UserView) or verified.status != Status.ACTIVE:
        fail("verify-email", verified)

    pair = login.sync(client=public, body=LoginRequest(email=email, password=password))
    if not isinstance(pair, TokenPairView):
        fail("login", pair)
    me = AuthenticatedClient(base_url=base_url, token=pair.access_token, raise_on_unexpected_status=True)

    profile = get_me.sync(client=me)
    if not isinstance(profile, UserView) or profile.id != registered.id or profile.email != email:
        fail("me", profile)

    patch = {"theme": None, "editor": {"tabs": 2, "font": {"family": "mono"}}}
    patched = update_me.sync(
        client=me,
        body=UpdateProfileRequest(preferences=UpdateProfileRequestPreferencesType0.from_dict(patch)),
    )
    merged = {"editor": {"tabs": 2, "keys": ["vim", None], "font": {"size": 14, "family": "mono"}}}
    if not isinstance(patched, UserView) or patched.preferences.to_dict() != merged:
        fail("patch preferences (RFC 7396 merge)", patched)

    uploaded = put_avatar.sync(client=me, body=File(payload=io.BytesIO(tiny_png()), mime_type="image/png"))
    if not isinstance(uploaded, UserView) or not isinstance(uploaded.avatar_url, str):
        fail("avatar upload", uploaded)
    image = avatar.sync(registered.id, client=public)
    if not isinstance(image, File) or len(image.payload.read()) == 0:
        fail("avatar download", image)

    key_set = jwks.sync(client=public)
    if not isinstance(key_set, JwkSet) or not key_set.keys:
        fail("jwks", key_set)
    header, claims = (json.loads(base64.urlsafe_b64decode(part + "==")) for part in pair.access_token.split(".")[:2])
    signed_with = header["kid"]
    if signed_with not in [key.kid for key in key_set.keys]:
        fail("jwks: the access token's kid", signed_with)

    trail = audit_events.sync(client=me, action=AuditEventsAction.AUTH_LOGIN, per_page=1)
    if not isinstance(trail, AuditPage) or not trail.items:
        fail("audit events", trail)
    session_id = trail.items[0].details["session_id"]
    if session_id != claims["sid"]:
        fail("audit event detail session_id", trail.items[0].details.to_dict())

    ended = logout.sync_detailed(client=public, body=RefreshRequest(refresh_token=pair.refresh_token))
    if ended.status_code != 204:
        fail("logout", ended.status_code)
    if isinstance(get_me.sync(client=me), UserView):
        fail("me after logout", "still signed in")

    print(f"flow.py: OK ({email}, key {signed_with}, session {session_id})")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
