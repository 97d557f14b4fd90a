"""Makes the reference hashes of tests/fixtures/hashes.json (run via scripts/make-hash-fixtures).

Every hash is made by the library that defines its format, then verified by that same
library (right password accepted, wrong one refused) before it is written, so a fixture
is known good before the Rust side ever sees it.

Most entries use small but valid costs so that the unit tests stay fast; one entry per
scheme uses the tool's own default cost and is marked "slow": the fast tests only parse
those.
"""

import json
import logging
import os
import sys
from importlib.metadata import version

import argon2
import argon2.low_level as argon2_ll
import bcrypt
import django
from django.conf import settings

# passlib logs a harmless traceback when it reads the version of bcrypt >= 4.1.
logging.getLogger("passlib").setLevel(logging.ERROR)

from passlib.hash import bcrypt as passlib_bcrypt  # noqa: E402
from passlib.hash import pbkdf2_sha256, pbkdf2_sha512, scrypt  # noqa: E402

settings.configure(
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    ]
)
django.setup()

from django.contrib.auth import hashers as dj  # noqa: E402

WRONG = "not the password"

PASSWORDS = {
    "ascii": "correct horse battery staple",
    "unicode": "pässwörd Ünïcödé ✓ 密码 🔑",
    "short": "hunter2",
    # 90 bytes: plain bcrypt would cut it at 72, Django's bcrypt_sha256 hashes it first.
    "long": "a long passphrase, " * 4 + "well past bcrypt's seventy-two bytes",
}

BCRYPT = f"bcrypt {version('bcrypt')}"
PASSLIB = f"passlib {version('passlib')}"
ARGON2 = f"argon2-cffi {version('argon2-cffi')}"
DJANGO = f"Django {django.get_version()}"

entries = []


def add(scheme, password, hash_, made_by, check, slow=False):
    """Records one fixture after the reference library's own verification of it."""
    if not check(password, hash_):
        sys.exit(f"{scheme} ({made_by}): the right password does not verify")
    if check(WRONG, hash_):
        sys.exit(f"{scheme} ({made_by}): a wrong password verifies")
    entries.append(
        {
            "scheme": scheme,
            "password": password,
            "hash": hash_,
            "made_by": made_by,
            "slow": slow,
        }
    )


def argon2_check(password, hash_):
    try:
        return argon2.PasswordHasher().verify(hash_, password)
    except argon2.exceptions.VerificationError:
        return False


def argon2_low(password, kind, version_=argon2_ll.ARGON2_VERSION, m=64, t=1, p=1):
    return argon2_ll.hash_secret(
        password.encode(),
        os.urandom(16),
        time_cost=t,
        memory_cost=m,
        parallelism=p,
        hash_len=32,
        type=kind,
        version=version_,
    ).decode("ascii")


def bcrypt_check(password, hash_):
    return bcrypt.checkpw(password.encode(), hash_.encode())


# Argon2, PHC strings.
for password, params in [(PASSWORDS["ascii"], (64, 1, 1)), (PASSWORDS["unicode"], (128, 2, 2))]:
    m, t, p = params
    hasher = argon2.PasswordHasher(time_cost=t, memory_cost=m, parallelism=p)
    add("argon2id", password, hasher.hash(password), f"{ARGON2} PasswordHasher m={m},t={t},p={p}", argon2_check)
add("argon2id", PASSWORDS["ascii"], argon2.PasswordHasher().hash(PASSWORDS["ascii"]),
    f"{ARGON2} PasswordHasher defaults", argon2_check, slow=True)
add("argon2i", PASSWORDS["ascii"], argon2_low(PASSWORDS["ascii"], argon2_ll.Type.I),
    f"{ARGON2} low-level hash_secret type I", argon2_check)
add("argon2i", PASSWORDS["unicode"], argon2_low(PASSWORDS["unicode"], argon2_ll.Type.I, version_=0x10),
    f"{ARGON2} low-level hash_secret type I, version 0x10", argon2_check)
# Version 0x10 with no v= field, as argon2 before its release 20160406 wrote it.
add("argon2i", PASSWORDS["short"],
    argon2_low(PASSWORDS["short"], argon2_ll.Type.I, version_=0x10).replace("$v=16$", "$", 1),
    f"{ARGON2} low-level hash_secret type I, version 0x10, v= field removed", argon2_check)
add("argon2d", PASSWORDS["ascii"], argon2_low(PASSWORDS["ascii"], argon2_ll.Type.D),
    f"{ARGON2} low-level hash_secret type D", argon2_check)
add("argon2d", PASSWORDS["unicode"], argon2_low(PASSWORDS["unicode"], argon2_ll.Type.D, m=256, t=2, p=4),
    f"{ARGON2} low-level hash_secret type D", argon2_check)

# passlib's scrypt and PBKDF2.
for handler, scheme, cheap in [
    (scrypt, "scrypt", [(PASSWORDS["ascii"], {"rounds": 4}), (PASSWORDS["unicode"], {"rounds": 10, "parallelism": 2})]),
    (pbkdf2_sha256, "pbkdf2_sha256", [(PASSWORDS["ascii"], {"rounds": 1000}), (PASSWORDS["unicode"], {"rounds": 3000})]),
    (pbkdf2_sha512, "pbkdf2_sha512", [(PASSWORDS["ascii"], {"rounds": 1000}), (PASSWORDS["unicode"], {"rounds": 3000})]),
]:
    for password, settings_ in cheap:
        described = ",".join(f"{k}={v}" for k, v in settings_.items())
        add(scheme, password, handler.using(**settings_).hash(password),
            f"{PASSLIB} {handler.name}.using({described})", handler.verify)
    add(scheme, PASSWORDS["ascii"], handler.hash(PASSWORDS["ascii"]),
        f"{PASSLIB} {handler.name} defaults", handler.verify, slow=True)

# bcrypt: $2b$ and $2a$ from the bcrypt module, $2y$ from passlib.
add("bcrypt", PASSWORDS["ascii"], bcrypt.hashpw(PASSWORDS["ascii"].encode(), bcrypt.gensalt(4)).decode(),
    f"{BCRYPT} hashpw gensalt(4)", bcrypt_check)
add("bcrypt", PASSWORDS["unicode"], bcrypt.hashpw(PASSWORDS["unicode"].encode(), bcrypt.gensalt(5)).decode(),
    f"{BCRYPT} hashpw gensalt(5)", bcrypt_check)
add("bcrypt", PASSWORDS["ascii"],
    bcrypt.hashpw(PASSWORDS["ascii"].encode(), bcrypt.gensalt(4, prefix=b"2a")).decode(),
    f"{BCRYPT} hashpw gensalt(4, prefix=2a)", bcrypt_check)
add("bcrypt", PASSWORDS["short"], passlib_bcrypt.using(ident="2y", rounds=4).hash(PASSWORDS["short"]),
    f"{PASSLIB} bcrypt.using(ident=2y,rounds=4) over {BCRYPT}", passlib_bcrypt.verify)
add("bcrypt", PASSWORDS["ascii"], bcrypt.hashpw(PASSWORDS["ascii"].encode(), bcrypt.gensalt()).decode(),
    f"{BCRYPT} hashpw gensalt() defaults", bcrypt_check, slow=True)


# Django's hashers, called directly; the cheap ones are subclasses with lower costs.
class CheapPBKDF2(dj.PBKDF2PasswordHasher):
    iterations = 2000


class CheapPBKDF2SHA1(dj.PBKDF2SHA1PasswordHasher):
    iterations = 2000


class CheapArgon2(dj.Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 64
    parallelism = 1


class OldArgon2i(dj.Argon2PasswordHasher):
    """The settings of Django 1.10 to 3.1: Argon2i, m=512, t=2, p=2."""

    time_cost = 2
    memory_cost = 512
    parallelism = 2

    def params(self):
        params = super().params()
        params.type = argon2_ll.Type.I
        return params


class CheapBCryptSHA256(dj.BCryptSHA256PasswordHasher):
    rounds = 4


def add_django(scheme, hasher, password, note, slow=False):
    add(scheme, password, dj.make_password(password, hasher=hasher), f"{DJANGO} {note}",
        lambda pw, encoded: hasher.verify(pw, encoded), slow=slow)


add_django("django_pbkdf2_sha256", CheapPBKDF2(), PASSWORDS["ascii"], "PBKDF2PasswordHasher iterations=2000")
add_django("django_pbkdf2_sha256", CheapPBKDF2(), PASSWORDS["unicode"], "PBKDF2PasswordHasher iterations=2000")
add_django("django_pbkdf2_sha256", dj.PBKDF2PasswordHasher(), PASSWORDS["ascii"], "PBKDF2PasswordHasher defaults", slow=True)
add_django("django_pbkdf2_sha1", CheapPBKDF2SHA1(), PASSWORDS["ascii"], "PBKDF2SHA1PasswordHasher iterations=2000")
add_django("django_pbkdf2_sha1", CheapPBKDF2SHA1(), PASSWORDS["unicode"], "PBKDF2SHA1PasswordHasher iterations=2000")
add_django("django_pbkdf2_sha1", dj.PBKDF2SHA1PasswordHasher(), PASSWORDS["ascii"], "PBKDF2SHA1PasswordHasher defaults", slow=True)
add_django("django_argon2", CheapArgon2(), PASSWORDS["ascii"], "Argon2PasswordHasher m=64,t=1,p=1")
add_django("django_argon2", OldArgon2i(), PASSWORDS["unicode"], "Argon2PasswordHasher as Django 1.10-3.1 set it (argon2i m=512,t=2,p=2)")
add_django("django_argon2", dj.Argon2PasswordHasher(), PASSWORDS["ascii"], "Argon2PasswordHasher defaults", slow=True)
add_django("django_bcrypt_sha256", CheapBCryptSHA256(), PASSWORDS["ascii"], f"BCryptSHA256PasswordHasher rounds=4 over {BCRYPT}")
add_django("django_bcrypt_sha256", CheapBCryptSHA256(), PASSWORDS["long"], f"BCryptSHA256PasswordHasher rounds=4 over {BCRYPT}")
add_django("django_bcrypt_sha256", CheapBCryptSHA256(), PASSWORDS["unicode"], f"BCryptSHA256PasswordHasher rounds=4 over {BCRYPT}")
add_django("django_bcrypt_sha256", dj.BCryptSHA256PasswordHasher(), PASSWORDS["ascii"],
       f"BCryptSHA256PasswordHasher defaults over {BCRYPT}", slow=True)

with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump(entries, out, ensure_ascii=False, indent=2)
    out.write("\n")
print(f"wrote {len(entries)} hashes to {sys.argv[1]}")
