//! The bearer-token extractor: verifies the access token and loads the caller's current
//! user and session (one query), or answers with the contract's 401 codes.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::error::ApiError;
use super::problems::ProblemType;
use crate::auth::login;
use crate::http::state::AppState;
use crate::model::Authenticated;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Authenticated);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token =
            bearer_token(parts).ok_or_else(|| ApiError::new(ProblemType::Unauthenticated))?;
        login::authenticate(state.deps(), token)
            .await
            .map(AuthUser)
            .map_err(ApiError::from)
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, Request};

    fn parts(authorization: Option<HeaderValue>) -> Parts {
        let mut request = Request::new(());
        if let Some(value) = authorization {
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        request.into_parts().0
    }

    /// Property-based checks of the `Authorization` header parsing.
    mod props {
        use super::*;
        use proptest::prelude::*;

        fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..40),
                "([Bb][Ee][Aa][Rr][Ee][Rr]|Basic|)[ \t]{0,3}\\PC{0,20}"
                    .prop_map(String::into_bytes),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            /// Any header value: a token found is non-empty, unpadded, and follows a `Bearer`
            /// scheme and a space.
            #[test]
            fn a_token_found_follows_a_bearer_scheme(bytes in header_bytes()) {
                let Ok(value) = HeaderValue::from_bytes(&bytes) else {
                    return Ok(());
                };
                let parts = parts(Some(value));
                if let Some(token) = bearer_token(&parts) {
                    let text = parts.headers[header::AUTHORIZATION].to_str().unwrap_or_default();
                    prop_assert!(!token.is_empty() && token.trim() == token);
                    let (scheme, rest) = text.trim().split_at(6);
                    prop_assert!(scheme.eq_ignore_ascii_case("bearer"));
                    prop_assert!(rest.starts_with(' ') && rest.trim() == token);
                }
            }

            #[test]
            fn bearer_tokens_are_found_whatever_the_case_and_padding(
                scheme in "[Bb][Ee][Aa][Rr][Ee][Rr]",
                token in "[!-~]{1,60}",
                before in " {0,3}",
                between in " {1,3}",
                after in " {0,3}",
            ) {
                let value = HeaderValue::from_str(&format!("{before}{scheme}{between}{token}{after}"));
                prop_assert!(value.is_ok());
                let parts = parts(value.ok());
                prop_assert_eq!(bearer_token(&parts), Some(token.as_str()));
            }
        }
    }
}
