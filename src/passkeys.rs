//! The relying party of passkeys (WebAuthn): the ceremonies' options in the WebAuthn Level 3
//! JSON forms a browser's `PublicKeyCredential.parseCreationOptionsFromJSON()` and
//! `parseRequestOptionsFromJSON()` take as they are, and the checks of what the browser
//! answers. The checks themselves (CBOR, COSE keys, attestation, signatures, origins, the
//! RP ID hash, user verification, the signature counter) are `webauthn-rs`'s; this module
//! decides the policy (discoverable credentials, user verification required) and turns
//! the library's states and credentials into JSON values that the database keeps.

use std::net::IpAddr;

use serde::Deserialize as _;
use serde_json::Value;
use url::Url;
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Webauthn, WebauthnBuilder, WebauthnError,
};

/// How long a ceremony may take (the options' `timeout` and the challenge's lifetime).
pub const CEREMONY_LIFETIME: std::time::Duration = std::time::Duration::from_secs(300);

/// Why the relying party could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RelyingPartyError {
    /// WebAuthn has no relying party on an IP address.
    #[error("WEBAUTHN_RP_ID is the IP address {0}: WebAuthn needs a domain name")]
    IpAddress(String),
    /// An origin is not the RP ID or one of its subdomains, or the RP ID is empty.
    #[error("WEBAUTHN_ORIGINS must be the RP ID {rp_id} or its subdomains: {origins}")]
    Mismatch { rp_id: String, origins: String },
}

/// The configured relying party.
pub struct RelyingParty {
    webauthn: Webauthn,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RelyingParty")
    }
}

/// What a browser's answer failed, named for the audit trail (`details.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not the JSON of a `PublicKeyCredential`, or its fields do not decode.
    #[error("the credential is not a well-formed WebAuthn response")]
    Malformed,
    /// The client data's origin is not one of `WEBAUTHN_ORIGINS`.
    #[error("the credential was made for another origin")]
    Origin,
    /// The authenticator data is for another RP ID.
    #[error("the credential was made for another relying party")]
    RpId,
    /// The client data answers another challenge, or is not of this ceremony.
    #[error("the credential answers another challenge")]
    Challenge,
    /// The authenticator did not verify the user (PIN, biometrics).
    #[error("the authenticator did not verify the user")]
    UserVerification,
    /// The signature (or attestation) does not verify.
    #[error("the signature does not verify")]
    Signature,
    /// The signature counter did not go up: the credential may have been cloned.
    #[error("the signature counter went backwards")]
    Counter,
}

impl Refusal {
    /// The audit trail's name for it.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Origin => "origin",
            Self::RpId => "rp_id",
            Self::Challenge => "challenge",
            Self::UserVerification => "user_verification",
            Self::Signature => "signature",
            Self::Counter => "counter",
        }
    }

    fn of(error: &WebauthnError) -> Self {
        match error {
            WebauthnError::InvalidRPOrigin => Self::Origin,
            WebauthnError::InvalidRPIDHash => Self::RpId,
            WebauthnError::MismatchedChallenge
            | WebauthnError::ChallengeNotFound
            | WebauthnError::InvalidClientDataType => Self::Challenge,
            WebauthnError::UserNotVerified | WebauthnError::UserNotPresent => {
                Self::UserVerification
            }
            WebauthnError::CredentialPossibleCompromise => Self::Counter,
            WebauthnError::ParseNOMFailure
            | WebauthnError::ParseBase64Failure(_)
            | WebauthnError::ParseCBORFailure(_)
            | WebauthnError::ParseJSONFailure(_)
            | WebauthnError::ParseInsufficientBytesAvailable
            | WebauthnError::COSEKeyInvalidCBORValue
            | WebauthnError::COSEKeyInvalidType
            | WebauthnError::MissingAttestationCredentialData
            | WebauthnError::InvalidUserUniqueId => Self::Malformed,
            _ => Self::Signature,
        }
    }
}

/// The start of a ceremony: what the browser gets (`publicKey`) and what the server keeps
/// until the answer comes (`state`).
#[derive(Debug)]
pub struct Ceremony {
    pub public_key: Value,
    pub state: Value,
}

/// A credential that passed registration, as it is stored.
#[derive(Debug)]
pub struct NewCredential {
    pub credential_id: Vec<u8>,
    /// The credential as `webauthn-rs` serialises it: public key, counter, flags.
    pub credential: Value,
    pub sign_count: u32,
}

/// A sign-in's credential, identified before its signature is checked.
#[derive(Debug)]
pub struct Assertion {
    credential: PublicKeyCredential,
    /// The user handle the authenticator returned (the user's id).
    pub user_id: Uuid,
    pub credential_id: Vec<u8>,
}

/// What a verified sign-in changes in its stored credential.
#[derive(Debug)]
pub struct Verified {
    /// The stored credential with its new counter and backup flags; `None` when they did
    /// not change (an authenticator without a counter), so that nothing is rewritten.
    pub credential: Option<Value>,
    pub sign_count: u32,
}

impl RelyingParty {
    /// The relying party `rp_id`, accepting answers from `origins` (the first is the main
    /// one) and shown to people as `name`.
    pub fn new(rp_id: &str, origins: &[Url], name: &str) -> Result<Self, RelyingPartyError> {
        if rp_id.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
            return Err(RelyingPartyError::IpAddress(rp_id.to_owned()));
        }
        let mismatch = || RelyingPartyError::Mismatch {
            rp_id: rp_id.to_owned(),
            origins: origins
                .iter()
                .map(Url::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        };
        let Some((first, others)) = origins.split_first() else {
            return Err(mismatch());
        };
        let mut builder = WebauthnBuilder::new(rp_id, first)
            .map_err(|_| mismatch())?
            .rp_name(name)
            .timeout(CEREMONY_LIFETIME);
        for origin in others {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder.build().map_err(|_| mismatch())?;
        Ok(Self { webauthn })
    }

    /// Starts registering a passkey for a user: the options ask for a discoverable
    /// credential and user verification, and exclude the user's `existing` credentials.
    pub fn start_registration(
        &self,
        user_id: Uuid,
        user_name: &str,
        display_name: &str,
        existing: Vec<Vec<u8>>,
    ) -> Result<Ceremony, anyhow::Error> {
        let exclude = Some(existing);
        let (options, state) =
            self.webauthn
                .start_passkey_registration(user_id, user_name, display_name, exclude)?;
        let mut public_key = serde_json::to_value(options.public_key)?;
        // Passkeys are discoverable: sign-in asks for no email, so the credential must be
        // resident on the authenticator.
        if let Some(selection) = public_key
            .get_mut("authenticatorSelection")
            .and_then(Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "required".into());
            selection.insert("requireResidentKey".into(), true.into());
        }
        Ok(Ceremony {
            public_key,
            state: serde_json::to_value(state)?,
        })
    }

    /// Checks a browser's registration answer against the kept `state`.
    pub fn finish_registration(
        &self,
        credential: &Value,
        state: Value,
    ) -> Result<Result<NewCredential, Refusal>, anyhow::Error> {
        let state: PasskeyRegistration = serde_json::from_value(state)?;
        let Ok(answer) = RegisterPublicKeyCredential::deserialize(credential) else {
            return Ok(Err(Refusal::Malformed));
        };
        let passkey = match self.webauthn.finish_passkey_registration(&answer, &state) {
            Ok(passkey) => passkey,
            Err(error) => return Ok(Err(Refusal::of(&error))),
        };
        let credential_id: Vec<u8> = passkey.cred_id().to_vec();
        let credential = serde_json::to_value(&passkey)?;
        let sign_count = stored_counter(&credential);
        Ok(Ok(NewCredential {
            credential_id,
            credential,
            sign_count,
        }))
    }

    /// Starts a sign-in with a discoverable credential: no user is named.
    pub fn start_sign_in(&self) -> Result<Ceremony, anyhow::Error> {
        let (options, state) = self.webauthn.start_discoverable_authentication()?;
        Ok(Ceremony {
            public_key: serde_json::to_value(options.public_key)?,
            state: serde_json::to_value(state)?,
        })
    }

    /// Reads which credential, and which user, a sign-in answer names, before anything is
    /// verified.
    pub fn identify(&self, credential: &Value) -> Result<Assertion, Refusal> {
        let credential =
            PublicKeyCredential::deserialize(credential).map_err(|_| Refusal::Malformed)?;
        let (user_id, credential_id) = self
            .webauthn
            .identify_discoverable_authentication(&credential)
            .map_err(|e| Refusal::of(&e))?;
        let credential_id = credential_id.to_vec();
        Ok(Assertion {
            credential,
            user_id,
            credential_id,
        })
    }

    /// Verifies a sign-in answer against the kept `state` and the stored credential:
    /// origin, RP ID, challenge, user verification, signature and counter.
    pub fn finish_sign_in(
        &self,
        assertion: &Assertion,
        state: Value,
        stored: &Value,
    ) -> Result<Result<Verified, Refusal>, anyhow::Error> {
        let state: DiscoverableAuthentication = serde_json::from_value(state)?;
        let mut passkey: Passkey = serde_json::from_value(stored.clone())?;
        let result = match self.webauthn.finish_discoverable_authentication_v2(
            &assertion.credential,
            state,
            &passkey,
        ) {
            Ok(result) => result,
            Err(error) => return Ok(Err(Refusal::of(&error))),
        };
        let credential = if result.needs_update() {
            passkey.update_credential(&result);
            Some(serde_json::to_value(&passkey)?)
        } else {
            None
        };
        Ok(Ok(Verified {
            sign_count: result.counter(),
            credential,
        }))
    }
}

/// The signature counter inside a stored credential (0 when it keeps none).
fn stored_counter(credential: &Value) -> u32 {
    credential
        .pointer("/cred/counter")
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Url {
        Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn an_ip_address_is_no_relying_party() {
        for rp_id in ["127.0.0.1", "::1", "[::1]"] {
            let made = RelyingParty::new(rp_id, &[origin("http://127.0.0.1:8080")], "Gatehouse");
            assert!(
                matches!(made, Err(RelyingPartyError::IpAddress(_))),
                "{rp_id}"
            );
        }
    }

    #[test]
    fn origins_must_belong_to_the_rp_id() {
        let made = RelyingParty::new("example.com", &[origin("https://evil.test")], "Gatehouse");
        assert!(matches!(made, Err(RelyingPartyError::Mismatch { .. })));
        let made = RelyingParty::new("example.com", &[], "Gatehouse");
        assert!(matches!(made, Err(RelyingPartyError::Mismatch { .. })));
        let made = RelyingParty::new(
            "example.com",
            &[
                origin("https://login.example.com"),
                origin("https://example.com"),
            ],
            "Gatehouse",
        );
        assert!(made.is_ok());
    }

    #[test]
    fn registration_options_ask_for_a_discoverable_verified_credential() {
        let rp = RelyingParty::new("localhost", &[origin("http://localhost:8080")], "Gatehouse")
            .unwrap_or_else(|e| panic!("{e}"));
        let ceremony = rp
            .start_registration(
                Uuid::now_v7(),
                "ada@example.com",
                "Ada",
                vec![vec![1, 2, 3]],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let selection = &ceremony.public_key["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["requireResidentKey"], true);
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(ceremony.public_key["rp"]["id"], "localhost");
        assert_eq!(ceremony.public_key["rp"]["name"], "Gatehouse");
        assert_eq!(ceremony.public_key["excludeCredentials"][0]["id"], "AQID");
        assert!(ceremony.public_key["challenge"].is_string());
        let sign_in = rp.start_sign_in().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sign_in.public_key["userVerification"], "required");
        assert_eq!(sign_in.public_key["rpId"], "localhost");
    }

    #[test]
    fn refusals_name_their_reason() {
        assert_eq!(
            Refusal::of(&WebauthnError::InvalidRPOrigin),
            Refusal::Origin
        );
        assert_eq!(Refusal::of(&WebauthnError::InvalidRPIDHash), Refusal::RpId);
        assert_eq!(
            Refusal::of(&WebauthnError::CredentialPossibleCompromise).reason(),
            "counter"
        );
        assert_eq!(
            Refusal::of(&WebauthnError::UserNotVerified),
            Refusal::UserVerification
        );
    }
}
