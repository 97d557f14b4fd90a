//! The pages that mailed links open: `/verify-email`, `/reset-password` and `/revert-email`. They only
//! act when the person presses the button (a POST of the form), so a mail scanner that
//! prefetches links cannot use up a token. Plain HTML forms: no script needed.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::auth::{AuthError, recovery, verification};
use crate::http::client::ClientMeta;
use crate::http::state::AppState;
use crate::mail::templates::escape_html;

/// Content security policy of the pages: no script at all, forms only to ourselves.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Routes of this module (not part of the JSON API, so not in the OpenAPI document).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/verify-email", get(verify_form).post(verify_submit))
        .route("/reset-password", get(reset_form).post(reset_submit))
        .route("/revert-email", get(revert_form).post(revert_submit))
}

/// A page's token (redacted in `Debug`).
#[derive(Default, Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

impl std::fmt::Debug for TokenQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenQuery([redacted])")
    }
}

/// The reset form (redacted in `Debug`).
#[derive(Default, Deserialize)]
struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

impl std::fmt::Debug for ResetForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetForm([redacted])")
    }
}

/// A link that is unknown, used or expired; a new one is asked for where the person signs in.
const INVALID_LINK: &str = "<p>The link is invalid, was already used, or has expired. \
    Ask for a new one where you sign in.</p>";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}}\
         input,button{{font-size:1rem;padding:.5rem;margin:.25rem 0;width:100%;box-sizing:border-box}}\
         .error{{color:#b00020}}</style></head>\n<body><h1>{title}</h1>\n{body}\n</body></html>\n",
        title = escape_html(title),
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    response
}

/// What follows a finished step: a link to the frontend (`APP_URL`) when there is one,
/// otherwise the page says it can be closed. (There is no sign-in page here to point to.)
fn onward(state: &AppState) -> String {
    match &state.settings().server.app_url {
        Some(app) => format!(
            "<p><a href=\"{}\">Continue to sign in</a></p>",
            escape_html(app.as_str())
        ),
        None => "<p>You can close this page.</p>".to_owned(),
    }
}

fn verify_page(token: &str) -> String {
    format!(
        "<p>Press the button to confirm your email address.</p>\
         <form method=\"post\" action=\"verify-email\">\
         <input type=\"hidden\" name=\"token\" value=\"{}\">\
         <button type=\"submit\">Confirm my email address</button></form>",
        escape_html(token)
    )
}

fn revert_page(token: &str) -> String {
    format!(
        "<p>Press the button to undo the change of your account's email address: this \
         address becomes its address again, and every session of the account ends.</p>\
         <form method=\"post\" action=\"revert-email\">\
         <input type=\"hidden\" name=\"token\" value=\"{}\">\
         <button type=\"submit\">Undo the change</button></form>",
        escape_html(token)
    )
}

fn reset_page(token: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>", escape_html(e)))
        .unwrap_or_default();
    format!(
        "{error}<form method=\"post\" action=\"reset-password\">\
         <input type=\"hidden\" name=\"token\" value=\"{}\">\
         <label>New password (at least 10 characters)\
         <input type=\"password\" name=\"new_password\" autocomplete=\"new-password\" minlength=\"10\" maxlength=\"128\" required></label>\
         <label>Repeat it\
         <input type=\"password\" name=\"confirm_password\" autocomplete=\"new-password\" minlength=\"10\" maxlength=\"128\" required></label>\
         <button type=\"submit\">Set my password</button></form>",
        escape_html(token)
    )
}

fn token_of(query: Option<String>) -> String {
    serde_urlencoded::from_str::<TokenQuery>(&query.unwrap_or_default())
        .map(|q| q.token)
        .unwrap_or_default()
}

async fn verify_form(RawQuery(query): RawQuery) -> Response {
    let token = token_of(query);
    page(
        StatusCode::OK,
        "Confirm your email address",
        &verify_page(&token),
    )
}

async fn verify_submit(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    body: Bytes,
) -> Response {
    let form: TokenQuery = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    match verification::verify_email(state.deps(), &form.token, &meta).await {
        Ok(_) => page(
            StatusCode::OK,
            "Email address confirmed",
            &format!(
                "<p>Thank you: your address is confirmed.</p>{}",
                onward(&state)
            ),
        ),
        Err(AuthError::InvalidVerificationToken) => page(
            StatusCode::BAD_REQUEST,
            "This link does not work",
            &format!("{INVALID_LINK}{}", onward(&state)),
        ),
        Err(AuthError::EmailTaken) => page(
            StatusCode::CONFLICT,
            "Address already in use",
            &format!(
                "<p>Another account uses this address now.</p>{}",
                onward(&state)
            ),
        ),
        Err(error) => failure(error),
    }
}

async fn revert_form(RawQuery(query): RawQuery) -> Response {
    let token = token_of(query);
    page(
        StatusCode::OK,
        "Undo the email change",
        &revert_page(&token),
    )
}

async fn revert_submit(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    body: Bytes,
) -> Response {
    let form: TokenQuery = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    match verification::revert_email(state.deps(), &form.token, &meta).await {
        Ok(_) => page(
            StatusCode::OK,
            "Email change undone",
            &format!(
                "<p>This address is your account's address again, and every session has \
                 ended. If you did not ask for the change, choose a new password now.</p>{}",
                onward(&state)
            ),
        ),
        Err(AuthError::InvalidRevertToken) => page(
            StatusCode::BAD_REQUEST,
            "This link does not work",
            &format!("{INVALID_LINK}{}", onward(&state)),
        ),
        Err(AuthError::EmailTaken) => page(
            StatusCode::CONFLICT,
            "Address already in use",
            &format!(
                "<p>Another account uses this address now.</p>{}",
                onward(&state)
            ),
        ),
        Err(error) => failure(error),
    }
}

async fn reset_form(RawQuery(query): RawQuery) -> Response {
    let token = token_of(query);
    page(
        StatusCode::OK,
        "Choose a new password",
        &reset_page(&token, None),
    )
}

async fn reset_submit(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    body: Bytes,
) -> Response {
    let form: ResetForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if form.new_password != form.confirm_password {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a new password",
            &reset_page(&form.token, Some("The two passwords differ.")),
        );
    }
    match recovery::reset_password(state.deps(), &form.token, &form.new_password, &meta).await {
        Ok(()) => page(
            StatusCode::OK,
            "Password changed",
            &format!(
                "<p>Your new password is set: sign in with it.</p>{}",
                onward(&state)
            ),
        ),
        Err(AuthError::InvalidResetToken) => page(
            StatusCode::BAD_REQUEST,
            "This link does not work",
            &format!("{INVALID_LINK}{}", onward(&state)),
        ),
        Err(AuthError::Invalid(problems)) => {
            let message = problems
                .iter()
                .map(|(_, invalid)| format!("The password {}.", invalid.message))
                .collect::<Vec<_>>()
                .join(" ");
            page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Choose a new password",
                &reset_page(&form.token, Some(&message)),
            )
        }
        Err(error) => failure(error),
    }
}

fn failure(error: AuthError) -> Response {
    tracing::error!(error = %error, "page request failed");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again",
        "<p>Something went wrong on our side. Please try again in a moment.</p>",
    )
}
