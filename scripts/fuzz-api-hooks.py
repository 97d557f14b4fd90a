"""schemathesis hooks of scripts/fuzz-api: the contract's own refusals of schema-valid requests.

The `positive_data_acceptance` check (ST202) expects every request that is valid against the
OpenAPI document to be accepted. A few rules of the contract (API.md) cannot be written in
JSON Schema; a request refused for exactly such a rule, with the status and problem codes the
contract gives for it, is no finding and is dropped here. Any other refusal of a schema-valid
request, on these operations too, stays a failure.
"""

import json

import schemathesis
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData

# "Password rules: ... not one of the common passwords shipped with the service (at least
# 10,000 entries); not containing the email's local part. Violations give 422 with the field
# errors." A schema-valid "0000000000" is rightly refused.
def password_rules(field):
    return {(field, "too_common"), (field, "contains_email")}


# "preferences: any JSON object up to 16 KiB", nested at most 32 levels (the service's rule,
# see docs/SECURITY.md): the size and depth of a document are beyond JSON Schema. Nor may a
# string or key anywhere in it hold U+0000, which PostgreSQL's jsonb cannot store (422
# `invalid_characters`, said in the schema's description): a schema can state that only by
# describing every nested value, recursively, and client generators cannot take a recursive
# schema (openapi-python-client drops the models, openapi-typescript emits a circular type),
# so the document keeps preferences a plain open object and the refusal is listed here.
PREFERENCES_RULES = {
    ("preferences", "too_large"),
    ("preferences", "too_deep"),
    ("preferences", "invalid_characters"),
}

# The import's body is NDJSON: the document describes one line (one user); a generated line
# is sent as a one-line file. Its lines' problems come back in a 200 report, not as a 422.
@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    return (json.dumps(value) + "\n").encode()


# (operation, status) -> whether the problem document shows only the contract's rules at work.
EXPECTED_REFUSALS = {
    ("POST /api/v1/auth/register", 422): lambda p: only_field_errors(p, password_rules("password") | PREFERENCES_RULES),
    ("POST /api/v1/users", 422): lambda p: only_field_errors(p, password_rules("password")),
    ("PUT /api/v1/users/me/password", 422): lambda p: only_field_errors(p, password_rules("new_password")),
    ("POST /api/v1/auth/reset-password", 422): lambda p: only_field_errors(p, password_rules("new_password")),
    ("PATCH /api/v1/users/me", 422): lambda p: only_field_errors(p, PREFERENCES_RULES),
    ("PATCH /api/v1/users/{id}", 422): lambda p: only_field_errors(p, PREFERENCES_RULES),
    # Mailed tokens: a well-formed token that was never issued is 400 with its own code.
    ("POST /api/v1/auth/reset-password", 400): lambda p: p.get("code") == "invalid_reset_token",
    ("POST /api/v1/auth/verify-email", 400): lambda p: p.get("code") == "invalid_verification_token",
    ("POST /api/v1/auth/revert-email", 400): lambda p: p.get("code") == "invalid_revert_token",
    # Avatars are "decoded and checked by content ... other content: 415": any bytes sent as
    # image/png, image/jpeg or image/webp fit the schema, only real images are accepted.
    ("PUT /api/v1/users/me/avatar", 415): lambda p: p.get("code") == "unsupported_media_type",
    # The account's current address as the new one (the stateful phase learns it from
    # GET /users/me): the schema cannot know which address the caller has.
    ("POST /api/v1/users/me/email", 422): lambda p: only_field_errors(p, {("new_email", "unchanged")}),
    # Passkeys: any object fits the schema of a browser's answer, and any UUID the schema of
    # a challenge; only a live challenge of the caller and a real WebAuthn answer to it pass.
    ("POST /api/v1/users/me/passkeys", 422): lambda p: only_field_errors(
        p, {("challenge_id", "invalid_challenge"), ("credential", "invalid_credential")}
    ),
    ("POST /api/v1/auth/passkey/login", 422): lambda p: only_field_errors(p, {("credential", "invalid_credential")}),
}

# The HTML pages of mailed links (tag `pages`) refuse the same tokens, and the reset form
# two passwords that differ or break a rule, with a page, not a problem document: matched
# on the page's title.
LINK_REFUSED = "<title>This link does not work</title>"
EXPECTED_PAGE_REFUSALS = {
    ("POST /verify-email", 400): LINK_REFUSED,
    ("POST /reset-password", 400): LINK_REFUSED,
    ("POST /revert-email", 400): LINK_REFUSED,
    ("POST /reset-password", 422): "<title>Choose a new password</title>",
}


def only_field_errors(problem, allowed):
    """A 422 whose every field error is one of `allowed` (field, code) pairs."""
    errors = problem.get("errors") or []
    return (
        problem.get("code") == "validation_failed"
        and bool(errors)
        and all((error.get("field"), error.get("code")) in allowed for error in errors)
    )


def import_reported_every_line_failed(case, response):
    """The import answers 200 for any NDJSON body: "an invalid line is reported with its line
    number and the rest goes on". A schema-violating line is therefore no finding when the
    report counts it failed and nothing created."""
    if case.operation.label != "POST /api/v1/users/import" or response.status_code != 200:
        return False
    try:
        report = json.loads(response.content)
    except ValueError:
        return False
    return (
        isinstance(report, dict)
        and report.get("created") == 0
        and report.get("failed", 0) >= 1
        and all(error.get("errors") for error in report.get("errors", []))
    )


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keeps every failure but a refusal the contract prescribes (see EXPECTED_REFUSALS and
    EXPECTED_PAGE_REFUSALS)."""
    if isinstance(failure, AcceptedNegativeData):
        return not import_reported_every_line_failed(case, response)
    if not isinstance(failure, RejectedPositiveData):
        return True
    key = (case.operation.label, response.status_code)
    page_title = EXPECTED_PAGE_REFUSALS.get(key)
    if page_title is not None:
        # schemathesis gives each header as the list of its values.
        content_type = " ".join(response.headers.get("content-type") or [])
        is_html = content_type.startswith("text/html")
        return not (is_html and page_title in response.text)
    expected = EXPECTED_REFUSALS.get(key)
    if expected is None:
        return True
    try:
        problem = json.loads(response.content)
    except ValueError:
        return True
    return not (isinstance(problem, dict) and expected(problem))
