//! The pages that mailed links open: `/verify-email`, `/reset-password` and `/revert-email`. They only
//! act when the person presses the button (a POST of the form), so a mail scanner that
//! prefetches links cannot use up a token. Plain HTML forms: no script needed.
//!
//! They are in the OpenAPI document (tag `pages`, `text/html`), so that whoever puts a
//! proxy or a frontend in front of the service sees every path it answers.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{AuthError, recovery, verification};
use crate::http::client::ClientMeta;
use crate::http::state::AppState;
use crate::mail::templates::escape_html;

/// Content security policy of the pages: no script at all, forms only to ourselves.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify_form, verify_submit))
        .routes(routes!(reset_form, reset_submit))
        .routes(routes!(revert_form, revert_submit))
}

/// A page's token (redacted in `Debug`): the form its button posts.
#[derive(Default, Deserialize, ToSchema)]
#[schema(as = LinkForm)]
struct TokenQuery {
    /// The token of the mailed link (a missing or wrong one shows "This link does not work").
    #[serde(default)]
    token: String,
}

impl std::fmt::Debug for TokenQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenQuery([redacted])")
    }
}

/// The reset form (redacted in `Debug`).
#[derive(Default, Deserialize, ToSchema)]
#[schema(as = ResetPasswordForm)]
struct ResetForm {
    /// The token of the mailed link.
    #[serde(default)]
    token: String,
    /// The new password (the password rules apply).
    #[serde(default)]
    #[schema(format = Password)]
    new_password: String,
    /// The same again; two different ones show the form again (422).
    #[serde(default)]
    #[schema(format = Password)]
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

/// The page of a verification link.
#[utoipa::path(
    get, path = "/verify-email", tag = "pages", security(),
    params(("token" = Option<String>, Query, description = "The token of the mailed link.")),
    responses(
        (status = 200, description = "The page of a verification link: a button that posts the token. It changes nothing by itself.", body = String, content_type = "text/html"),
    )
)]
async fn verify_form(RawQuery(query): RawQuery) -> Response {
    let token = token_of(query);
    page(
        StatusCode::OK,
        "Confirm your email address",
        &verify_page(&token),
    )
}

/// Confirms the address when the page's button is pressed.
#[utoipa::path(
    post, path = "/verify-email", tag = "pages", security(),
    request_body(content = TokenQuery, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Done, as `POST /api/v1/auth/verify-email`: the address is confirmed.", body = String, content_type = "text/html"),
        (status = 400, description = "The link is unknown, used or expired.", body = String, content_type = "text/html"),
        (status = 409, description = "Another account uses the address now.", body = String, content_type = "text/html"),
        (status = 503, description = "The database is unavailable: try again.", body = String, content_type = "text/html"),
    )
)]
async fn verify_submit(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    body: Bytes,
) -> Response {
    let form: TokenQuery = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let outcome = verification::verify_email(state.deps(), &form.token, &meta).await;
    address_link_page(
        &state,
        outcome.map(|_| ()),
        "Email address confirmed",
        "<p>Thank you: your address is confirmed.</p>",
    )
}

/// The page of the link that undoes an email change.
#[utoipa::path(
    get, path = "/revert-email", tag = "pages", security(),
    params(("token" = Option<String>, Query, description = "The token of the mailed link.")),
    responses(
        (status = 200, description = "The page of the link that undoes an email change: a button that posts the token. It changes nothing by itself.", body = String, content_type = "text/html"),
    )
)]
async fn revert_form(RawQuery(query): RawQuery) -> Response {
    let token = token_of(query);
    page(
        StatusCode::OK,
        "Undo the email change",
        &revert_page(&token),
    )
}

/// Undoes the email change when the page's button is pressed.
#[utoipa::path(
    post, path = "/revert-email", tag = "pages", security(),
    request_body(content = TokenQuery, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Done, as `POST /api/v1/auth/revert-email`: the old address is back and every session has ended.", body = String, content_type = "text/html"),
        (status = 400, description = "The link is unknown, used or expired.", body = String, content_type = "text/html"),
        (status = 409, description = "Another account uses the address now.", body = String, content_type = "text/html"),
        (status = 503, description = "The database is unavailable: try again.", body = String, content_type = "text/html"),
    )
)]
async fn revert_submit(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    body: Bytes,
) -> Response {
    let form: TokenQuery = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let outcome = verification::revert_email(state.deps(), &form.token, &meta).await;
    address_link_page(
        &state,
        outcome.map(|_| ()),
        "Email change undone",
        "<p>This address is your account's address again, and every session has \
         ended. If you did not ask for the change, choose a new password now.</p>",
    )
}

/// The page after the button of a link that sets an address (verification, revert):
/// done, a link that does not work, or an address another account took meanwhile.
fn address_link_page(
    state: &AppState,
    outcome: Result<(), AuthError>,
    done_title: &str,
    done_text: &str,
) -> Response {
    match outcome {
        Ok(()) => page(
            StatusCode::OK,
            done_title,
            &format!("{done_text}{}", onward(state)),
        ),
        Err(AuthError::InvalidVerificationToken | AuthError::InvalidRevertToken) => page(
            StatusCode::BAD_REQUEST,
            "This link does not work",
            &format!("{INVALID_LINK}{}", onward(state)),
        ),
        Err(AuthError::EmailTaken) => page(
            StatusCode::CONFLICT,
            "Address already in use",
            &format!(
                "<p>Another account uses this address now.</p>{}",
                onward(state)
            ),
        ),
        Err(error) => failure(error),
    }
}

/// The page of a reset or invitation link.
#[utoipa::path(
    get, path = "/reset-password", tag = "pages", security(),
    params(("token" = Option<String>, Query, description = "The token of the mailed link.")),
    responses(
        (status = 200, description = "The page of a reset or invitation link: a form for the new password. It changes nothing by itself.", body = String, content_type = "text/html"),
    )
)]
async fn reset_form(RawQuery(query): RawQuery) -> Response {
    let token = token_of(query);
    page(
        StatusCode::OK,
        "Choose a new password",
        &reset_page(&token, None),
    )
}

/// Sets the new password when the form is sent.
#[utoipa::path(
    post, path = "/reset-password", tag = "pages", security(),
    request_body(content = ResetForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Done, as `POST /api/v1/auth/reset-password`: the password is set and every session has ended.", body = String, content_type = "text/html"),
        (status = 400, description = "The link is unknown, used or expired.", body = String, content_type = "text/html"),
        (status = 422, description = "The two passwords differ or break a password rule: the form again, saying why.", body = String, content_type = "text/html"),
        (status = 503, description = "The database is unavailable: try again.", body = String, content_type = "text/html"),
    )
)]
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
