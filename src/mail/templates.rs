//! The messages Gatehouse sends, each with a plain-text and an HTML body. Links are exactly
//! `{PUBLIC_URL}/verify-email?token=…` and `{PUBLIC_URL}/reset-password?token=…`.

use serde::{Deserialize, Serialize};

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

crate::text_enum! {
    /// Which message; the name is stored beside the queued mail.
    pub enum Template {
        VerifyEmail = "verify_email",
        ConfirmEmailChange = "confirm_email_change",
        EmailChangeNotice = "email_change_notice",
        ResetPassword = "reset_password",
        Invitation = "invitation",
        /// An admin switched the user's two-step sign-in off.
        MfaReset = "mfa_reset",
    }
}

/// Link to the verification page.
pub fn verify_link(public_url: &str, token: &str) -> String {
    format!("{public_url}/verify-email?token={token}")
}

/// Link to the page that undoes an email change (mailed to the old address).
pub fn revert_link(public_url: &str, token: &str) -> String {
    format!("{public_url}/revert-email?token={token}")
}

/// Link to the password page (resets and invitations).
pub fn reset_link(public_url: &str, token: &str) -> String {
    format!("{public_url}/reset-password?token={token}")
}

/// Renders a template. `name` is the recipient's display name, given only when the address
/// is proven: mail to an address not yet proven never holds text that the requester chose
/// (it would make the service a relay of their words). `link` is the action link, if the
/// message has one.
pub fn render(template: Template, name: Option<&str>, link: Option<&str>) -> Rendered {
    let link = link.unwrap_or_default();
    let (subject, intro, action, outro) = match template {
        Template::VerifyEmail => (
            "Confirm your email address",
            "Please confirm your email address to activate your account.",
            "Confirm my email address",
            "The link is valid for 24 hours. If you did not sign up, ignore this message.",
        ),
        Template::ConfirmEmailChange => (
            "Confirm your new email address",
            "Please confirm this address to make it the new address of your account.",
            "Confirm my new address",
            "The link is valid for 24 hours. If you did not ask for this, ignore this message.",
        ),
        Template::EmailChangeNotice => (
            "Your email address is being changed",
            "Someone (probably you) asked to change the email address of your account to a new one. \
             The change takes effect only once the new address is confirmed.",
            "Undo the change",
            "If this was not you, undo the change with this link (valid for 7 days, even after the \
             new address was confirmed): it puts this address back and signs out everywhere. \
             Then change your password: someone may know it.",
        ),
        Template::ResetPassword => (
            "Reset your password",
            "Someone (probably you) asked to reset the password of your account.",
            "Choose a new password",
            "The link is valid for 1 hour. If you did not ask for this, ignore this message; \
             your password stays as it is.",
        ),
        Template::Invitation => (
            "You are invited",
            "An account has been created for you. Choose a password to start using it.",
            "Choose my password",
            "The link is valid for 7 days.",
        ),
        Template::MfaReset => (
            "Two-step sign-in was switched off",
            "An administrator switched off two-step sign-in for your account (for example after \
             a lost phone) and signed you out everywhere. Your authenticator app and recovery \
             codes no longer work.",
            "",
            "Sign in with your password and set up two-step sign-in again. If you did not ask \
             for this, contact your administrator.",
        ),
    };
    let greeting = match name {
        Some(name) => format!("Hello {name},"),
        None => "Hello,".to_owned(),
    };
    let mut text = format!("{greeting}\n\n{intro}\n\n");
    if !action.is_empty() {
        text.push_str(&format!("{action}:\n{link}\n\n"));
    }
    text.push_str(outro);
    text.push('\n');

    let button = if action.is_empty() {
        String::new()
    } else {
        format!(
            "<p><a href=\"{href}\" style=\"display:inline-block;padding:10px 16px;background:#1f6feb;color:#fff;\
             text-decoration:none;border-radius:6px\">{action}</a></p>\n<p>Or open this link: {href}</p>\n",
            href = escape_html(link),
        )
    };
    let html = format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n<p>{}</p>\n<p>{}</p>\n{button}<p>{}</p>\n</body></html>\n",
        escape_html(&greeting),
        escape_html(intro),
        escape_html(outro),
    );
    Rendered {
        subject: subject.to_owned(),
        text,
        html,
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_have_the_contract_shape() {
        assert_eq!(
            verify_link("https://id.example.com", "abc"),
            "https://id.example.com/verify-email?token=abc"
        );
        assert_eq!(
            reset_link("http://localhost:8080", "t"),
            "http://localhost:8080/reset-password?token=t"
        );
    }

    #[test]
    fn names_are_escaped_in_html() {
        let mail = render(
            Template::ResetPassword,
            Some("<script>x</script>"),
            Some("https://a/verify-email?token=t"),
        );
        assert!(mail.html.contains("&lt;script&gt;"));
        assert!(!mail.html.contains("<script>"));
        assert!(mail.text.contains("https://a/verify-email?token=t"));
        assert!(
            mail.html
                .contains("href=\"https://a/verify-email?token=t\"")
        );
    }

    #[test]
    fn the_notice_carries_the_revert_link() {
        let link = revert_link("https://id.example.com", "t");
        assert_eq!(link, "https://id.example.com/revert-email?token=t");
        let mail = render(Template::EmailChangeNotice, Some("Ada"), Some(&link));
        assert!(
            mail.html
                .contains("href=\"https://id.example.com/revert-email?token=t\"")
        );
        assert!(mail.text.contains("change your password"));
        assert!(mail.text.starts_with("Hello Ada,"));
    }

    #[test]
    fn the_mfa_reset_notice_has_no_link() {
        let mail = render(Template::MfaReset, Some("Ada"), None);
        assert!(mail.text.contains("switched off two-step sign-in"));
        assert!(!mail.html.contains("href="));
    }

    #[test]
    fn without_a_name_the_greeting_is_plain() {
        let mail = render(
            Template::VerifyEmail,
            None,
            Some("https://a/verify-email?token=t"),
        );
        assert!(mail.text.starts_with("Hello,\n"));
    }
}
