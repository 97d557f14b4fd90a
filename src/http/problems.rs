//! Every problem the API answers with: its status, stable `code` and the detail people
//! read. Responses ([`super::error::ApiError`]) and the OpenAPI examples are both made
//! from this one list, so a documented example cannot differ from what is sent.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// The request id shown in examples.
pub const EXAMPLE_REQUEST_ID: &str = "0193a5c4-7f0e-7c1a-9b1e-5d2f3a4b5c6d";

macro_rules! problem_types {
    ($( $(#[doc = $doc:expr])* $name:ident = ($status:ident, $code:literal, $detail:literal), )+) => {
        /// A kind of problem: status, code and detail together.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemType {
            $( $(#[doc = $doc])* $name, )+
        }

        impl ProblemType {
            /// Every problem type.
            pub const ALL: &'static [Self] = &[$(Self::$name),+];

            /// The HTTP status.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(Self::$name => StatusCode::$status,)+
                }
            }

            /// The stable snake_case code that clients branch on.
            pub const fn code(self) -> &'static str {
                match self {
                    $(Self::$name => $code,)+
                }
            }

            /// What went wrong, for people.
            pub const fn detail(self) -> &'static str {
                match self {
                    $(Self::$name => $detail,)+
                }
            }
        }
    };
}

problem_types! {
    /// A body that is not JSON; the detail ends with the parser's reason.
    MalformedJson = (BAD_REQUEST, "malformed_request", "The body is not valid JSON"),
    TrailingCharacters = (BAD_REQUEST, "malformed_request", "The body has trailing characters after the JSON value."),
    /// A request that could not be read (a layer refused it).
    BadRequest = (BAD_REQUEST, "malformed_request", "The request could not be read."),
    RequestTimeout = (REQUEST_TIMEOUT, "malformed_request", "The request was not received in time."),
    InvalidVerificationToken = (BAD_REQUEST, "invalid_verification_token", "The verification link is invalid, used or expired."),
    InvalidResetToken = (BAD_REQUEST, "invalid_reset_token", "The reset link is invalid, used or expired."),
    InvalidRevertToken = (BAD_REQUEST, "invalid_revert_token", "The link to undo the email change is invalid, used or expired."),
    Unauthenticated = (UNAUTHORIZED, "unauthenticated", "Send an access token: `Authorization: Bearer <token>`."),
    InvalidToken = (UNAUTHORIZED, "invalid_token", "The token is not valid."),
    TokenExpired = (UNAUTHORIZED, "token_expired", "The access token has expired; refresh it."),
    TokenRevoked = (UNAUTHORIZED, "token_revoked", "The session of this token has ended; sign in again."),
    InvalidCredentials = (UNAUTHORIZED, "invalid_credentials", "The email address or password is wrong."),
    RefreshTokenReused = (UNAUTHORIZED, "refresh_token_reused", "This refresh token was already used; the session has been ended for safety."),
    /// The right password on an account with two-step sign-in: the body carries
    /// `mfa_token` and `methods`.
    MfaRequired = (UNAUTHORIZED, "mfa_required", "The password is right; now send a code of the second step to /api/v1/auth/login/mfa with the mfa_token."),
    InvalidMfaCode = (UNAUTHORIZED, "invalid_mfa_code", "The code is wrong."),
    /// Confirming, removing or regenerating in a state that does not allow it.
    MfaConflict = (CONFLICT, "conflict", "Two-step sign-in is not in a state that allows this (on already, not on, or no enrolment pending)."),
    Forbidden = (FORBIDDEN, "forbidden", "Your role does not allow this, or it cannot be done to yourself."),
    /// A CORS preflight from an origin that is not configured.
    OriginForbidden = (FORBIDDEN, "forbidden", "This origin is not allowed to call the API."),
    EmailNotVerified = (FORBIDDEN, "email_not_verified", "Confirm your email address first; the link was mailed to you."),
    AccountDeactivated = (FORBIDDEN, "account_deactivated", "This account is deactivated."),
    NotFound = (NOT_FOUND, "not_found", "There is nothing at this address."),
    NoSuchUser = (NOT_FOUND, "not_found", "There is no such user."),
    MethodNotAllowed = (METHOD_NOT_ALLOWED, "method_not_allowed", "This method is not allowed here; see the Allow header."),
    EmailTaken = (CONFLICT, "email_taken", "An account with this email address exists."),
    LastAdmin = (CONFLICT, "last_admin", "This would leave no active admin; make another admin first."),
    NotDeactivated = (CONFLICT, "conflict", "The user is not deactivated."),
    PayloadTooLarge = (PAYLOAD_TOO_LARGE, "payload_too_large", "The request body is larger than this endpoint accepts."),
    /// An upload over the 2 MiB limit.
    UploadTooLarge = (PAYLOAD_TOO_LARGE, "payload_too_large", "The image must be at most 2 MiB."),
    /// An image declaring more pixels than allowed.
    ImageTooLarge = (PAYLOAD_TOO_LARGE, "payload_too_large", "The image is too large (at most 2 MiB and 10000 pixels a side)."),
    UnsupportedMediaType = (UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "This content type is not accepted here."),
    NotJson = (UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Send the body as JSON with `Content-Type: application/json`."),
    /// An import whose `Content-Type` is not NDJSON.
    NotNdjson = (UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Send the users as NDJSON with `Content-Type: application/x-ndjson`."),
    /// An upload whose `Content-Type` is not an accepted image type.
    NotAnImageType = (UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Send the image with `Content-Type: image/png`, `image/jpeg` or `image/webp`."),
    /// An upload whose content is not an accepted image.
    NotAnImage = (UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "The image must be a PNG, JPEG or WebP file."),
    ValidationFailed = (UNPROCESSABLE_ENTITY, "validation_failed", "The request has invalid fields."),
    RateLimited = (TOO_MANY_REQUESTS, "rate_limited", "Too many requests; retry after the number of seconds in Retry-After."),
    Internal = (INTERNAL_SERVER_ERROR, "internal", "Something went wrong on our side; the request id identifies it in our logs."),
    DatabaseUnavailable = (SERVICE_UNAVAILABLE, "unavailable", "The database is unavailable; try again shortly."),
    HashingUnavailable = (SERVICE_UNAVAILABLE, "unavailable", "Password checking is unavailable; try again."),
    TimedOut = (SERVICE_UNAVAILABLE, "unavailable", "The service could not answer in time; try again shortly."),
    ShuttingDown = (SERVICE_UNAVAILABLE, "unavailable", "The service is shutting down."),
    SchemaBehind = (SERVICE_UNAVAILABLE, "unavailable", "The database schema is not at this version's migrations."),
    DatabaseSilent = (SERVICE_UNAVAILABLE, "unavailable", "The database does not answer."),
}

/// The token shown in the example of [`ProblemType::MfaRequired`].
pub const EXAMPLE_MFA_TOKEN: &str = "Xp3v9QkR7tLm2sWc8yHn4bJd6fGa1eZu0iOq5rTs7vU";

/// The parser's reason shown in the example of [`ProblemType::MalformedJson`].
pub const EXAMPLE_JSON_REASON: &str = "expected value at line 1 column 1";

impl ProblemType {
    /// `/problems/<code>`.
    pub fn type_uri(self) -> String {
        format!("/problems/{}", self.code())
    }

    /// The HTTP reason phrase.
    pub fn title(self) -> &'static str {
        self.status().canonical_reason().unwrap_or("Error")
    }

    /// The detail of a body that failed to parse for `reason`.
    pub fn malformed_json_detail(reason: &str) -> String {
        format!("{}: {reason}.", Self::MalformedJson.detail())
    }

    /// The detail this problem is sent with in its example.
    pub fn example_detail(self) -> String {
        match self {
            Self::MalformedJson => Self::malformed_json_detail(EXAMPLE_JSON_REASON),
            other => other.detail().to_owned(),
        }
    }

    /// An example problem document of this type.
    pub fn example(self) -> Value {
        let mut example = json!({
            "type": self.type_uri(),
            "title": self.title(),
            "status": self.status().as_u16(),
            "detail": self.example_detail(),
            "code": self.code(),
            "request_id": EXAMPLE_REQUEST_ID,
        });
        if self == Self::MfaRequired {
            example["mfa_token"] = json!(EXAMPLE_MFA_TOKEN);
            example["methods"] = json!(["totp", "recovery_code"]);
        }
        example
    }

    /// An example 422 naming one field.
    pub fn invalid_field_example(field: &str, code: &str, message: &str) -> Value {
        let mut value = Self::ValidationFailed.example();
        value["errors"] = json!([{"field": field, "code": code, "message": message}]);
        value
    }

    /// The problem type an example document shows, if it is one of ours exactly as this
    /// list would send it (field errors aside).
    pub fn of_example(example: &Value) -> Option<Self> {
        Self::ALL.iter().copied().find(|kind| {
            let mut expected = kind.example();
            if let (Some(errors), Value::Object(map)) = (example.get("errors"), &mut expected) {
                map.insert("errors".to_owned(), errors.clone());
            }
            &expected == example
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_contracts_and_each_type_says_something_of_its_own() {
        let contract = [
            "malformed_request",
            "invalid_verification_token",
            "invalid_reset_token",
            "invalid_revert_token",
            "mfa_required",
            "invalid_mfa_code",
            "unauthenticated",
            "invalid_token",
            "token_expired",
            "token_revoked",
            "invalid_credentials",
            "refresh_token_reused",
            "forbidden",
            "email_not_verified",
            "account_deactivated",
            "not_found",
            "method_not_allowed",
            "email_taken",
            "last_admin",
            "conflict",
            "payload_too_large",
            "unsupported_media_type",
            "validation_failed",
            "rate_limited",
            "internal",
            "unavailable",
        ];
        let mut details = std::collections::HashSet::new();
        for kind in ProblemType::ALL {
            assert!(contract.contains(&kind.code()), "{kind:?}");
            assert!(details.insert(kind.detail()), "{kind:?} repeats a detail");
            assert!(kind.status().is_client_error() || kind.status().is_server_error());
        }
    }

    #[test]
    fn examples_are_recognised_and_others_are_not() {
        for kind in ProblemType::ALL {
            assert_eq!(ProblemType::of_example(&kind.example()), Some(*kind));
        }
        let mut changed = ProblemType::EmailTaken.example();
        changed["detail"] = json!("Taken.");
        assert_eq!(ProblemType::of_example(&changed), None);
        let field = ProblemType::invalid_field_example("name", "required", "missing");
        assert_eq!(
            ProblemType::of_example(&field),
            Some(ProblemType::ValidationFailed)
        );
    }
}
