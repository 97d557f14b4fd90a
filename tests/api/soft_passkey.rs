//! A software WebAuthn authenticator: it answers the server's passkey options with the JSON a
//! browser's `PublicKeyCredential.toJSON()` gives (WebAuthn Level 3), signed by a P-256 key it
//! holds in memory, so the tests can register and sign in without a browser.
//!
//! It acts as a platform authenticator with `none` attestation, a discoverable credential and
//! ES256 keys. `Tamper` bends one part of a ceremony at a time, to see the server refuse it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::Value as Cbor;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey as _;
use rand::Rng as _;
use rand::rngs::OsRng;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// User present.
const FLAG_UP: u8 = 0x01;
/// User verified.
const FLAG_UV: u8 = 0x04;
/// Attested credential data included.
const FLAG_AT: u8 = 0x40;
/// COSE algorithm ES256: ECDSA on P-256 with SHA-256.
const ES256: i64 = -7;

/// Base64url without padding, the encoding of every binary field in the WebAuthn JSON.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url (padding, if any, is ignored); panics on anything else.
pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .expect("the value should be base64url")
}

/// A passkey held in memory: one ES256 credential for one relying party and one user.
pub struct SoftPasskey {
    /// The credential's private key.
    signing_key: SigningKey,
    /// The random credential id, 16 to 32 bytes.
    credential_id: Vec<u8>,
    /// The `user.id` of the creation options, returned as `userHandle` at sign-in.
    user_handle: Vec<u8>,
    /// The signature counter of the last assertion (0 before the first).
    counter: u32,
    /// Always report counter 0, as synced passkeys do.
    counter_fixed_zero: bool,
    /// The relying party id the credential is scoped to.
    rp_id: String,
}

/// Deviations from an honest ceremony; `Tamper::default()` is an honest one.
#[derive(Debug, Clone)]
pub struct Tamper {
    /// The origin written in clientDataJSON instead of the real one.
    pub origin: Option<String>,
    /// The rp id hashed into the authenticator data instead of the credential's.
    pub rp_id: Option<String>,
    /// Whether the UV flag is set (true by default); UP is always set.
    pub user_verified: bool,
    /// Sign something else than the authenticator data and client data hash (sign-in only:
    /// `none` attestation carries no signature at registration).
    pub bad_signature: bool,
    /// The signature counter sent instead of the authenticator's own.
    pub counter: Option<u32>,
    /// The challenge written in clientDataJSON instead of the options' one.
    pub challenge: Option<String>,
    /// At sign-in, the `userHandle` sent; at registration, the user handle the authenticator
    /// keeps instead of the options' `user.id`.
    pub user_handle: Option<Vec<u8>>,
}

impl Default for Tamper {
    fn default() -> Self {
        Tamper {
            origin: None,
            rp_id: None,
            user_verified: true,
            bad_signature: false,
            counter: None,
            challenge: None,
            user_handle: None,
        }
    }
}

/// `CollectedClientData` with the members, in the order, that browsers write.
#[derive(Serialize)]
struct ClientData<'a> {
    #[serde(rename = "type")]
    type_: &'a str,
    challenge: &'a str,
    origin: &'a str,
    #[serde(rename = "crossOrigin")]
    cross_origin: bool,
}

impl SoftPasskey {
    /// Creates a credential for the creation options `public_key` (the inner object), answering
    /// for `origin`; returns the authenticator and the registration JSON.
    pub fn register(public_key: &Value, origin: &str) -> (SoftPasskey, Value) {
        Self::register_with(public_key, origin, &Tamper::default())
    }

    /// `register`, with the deviations of `tamper`.
    pub fn register_with(
        public_key: &Value,
        origin: &str,
        tamper: &Tamper,
    ) -> (SoftPasskey, Value) {
        let params = public_key["pubKeyCredParams"].as_array();
        if let Some(params) = params.filter(|params| !params.is_empty()) {
            assert!(
                params
                    .iter()
                    .any(|param| param["alg"].as_i64() == Some(ES256)),
                "the options should offer ES256 (-7), the only algorithm of this authenticator: {params:?}"
            );
        }
        let rp_id = match public_key["rp"]["id"].as_str() {
            Some(rp_id) => rp_id.to_owned(),
            // Without rp.id, the client uses the origin's effective domain.
            None => url::Url::parse(origin)
                .expect("the origin should be a URL")
                .host_str()
                .expect("the origin should have a host")
                .to_owned(),
        };
        let user_handle = match &tamper.user_handle {
            Some(handle) => handle.clone(),
            None => unb64(
                public_key["user"]["id"]
                    .as_str()
                    .expect("the creation options should have user.id"),
            ),
        };

        let signing_key = SigningKey::random(&mut OsRng);
        let mut rng = rand::thread_rng();
        let mut credential_id = vec![0u8; rng.gen_range(16..=32)];
        rng.fill(credential_id.as_mut_slice());

        let point = signing_key.verifying_key().to_encoded_point(false);
        let cose_key = Cbor::Map(vec![
            (Cbor::from(1), Cbor::from(2)),     // kty: EC2
            (Cbor::from(3), Cbor::from(ES256)), // alg: ES256
            (Cbor::from(-1), Cbor::from(1)),    // crv: P-256
            (
                Cbor::from(-2),
                Cbor::Bytes(point.x().expect("an uncompressed point has x").to_vec()),
            ),
            (
                Cbor::from(-3),
                Cbor::Bytes(point.y().expect("an uncompressed point has y").to_vec()),
            ),
        ]);

        let mut flags = FLAG_UP | FLAG_AT;
        if tamper.user_verified {
            flags |= FLAG_UV;
        }
        let mut auth_data = authenticator_data(
            tamper.rp_id.as_deref().unwrap_or(&rp_id),
            flags,
            tamper.counter.unwrap_or(0),
        );
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID: none
        let id_len = u16::try_from(credential_id.len()).expect("a credential id fits a u16");
        auth_data.extend_from_slice(&id_len.to_be_bytes());
        auth_data.extend_from_slice(&credential_id);
        ciborium::into_writer(&cose_key, &mut auth_data).expect("the COSE key should encode");

        let attestation = Cbor::Map(vec![
            (Cbor::from("fmt"), Cbor::from("none")),
            (Cbor::from("attStmt"), Cbor::Map(Vec::new())),
            (Cbor::from("authData"), Cbor::Bytes(auth_data.clone())),
        ]);
        let mut attestation_object = Vec::new();
        ciborium::into_writer(&attestation, &mut attestation_object)
            .expect("the attestation object should encode");

        let client_data = client_data_json("webauthn.create", public_key, origin, tamper);
        let public_key_der = signing_key
            .verifying_key()
            .to_public_key_der()
            .expect("the public key should encode as SPKI");

        let json = json!({
            "id": b64(&credential_id),
            "rawId": b64(&credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "transports": ["internal"],
                "publicKey": b64(public_key_der.as_bytes()),
                "publicKeyAlgorithm": ES256,
                "attestationObject": b64(&attestation_object),
            },
        });
        let passkey = SoftPasskey {
            signing_key,
            credential_id,
            user_handle,
            counter: 0,
            counter_fixed_zero: false,
            rp_id,
        };
        (passkey, json)
    }

    /// Signs the request options `public_key` (the inner object) for `origin`; the counter goes
    /// up by one each call (the first assertion carries 1), unless `with_zero_counter` was used.
    ///
    /// Like an attacker's client, it answers even when `allowCredentials` leaves this credential
    /// out or `rpId` names another relying party: the server must refuse those, not the test.
    pub fn sign_in(&mut self, public_key: &Value, origin: &str) -> Value {
        self.sign_in_with(public_key, origin, &Tamper::default())
    }

    /// `sign_in`, with the deviations of `tamper`; the authenticator's own counter still moves
    /// when `tamper.counter` replaces the value sent.
    pub fn sign_in_with(&mut self, public_key: &Value, origin: &str, tamper: &Tamper) -> Value {
        if !self.counter_fixed_zero {
            self.counter = self
                .counter
                .checked_add(1)
                .expect("the signature counter should not overflow");
        }
        let mut flags = FLAG_UP;
        if tamper.user_verified {
            flags |= FLAG_UV;
        }
        let auth_data = authenticator_data(
            tamper.rp_id.as_deref().unwrap_or(&self.rp_id),
            flags,
            tamper.counter.unwrap_or(self.counter),
        );
        let client_data = client_data_json("webauthn.get", public_key, origin, tamper);

        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        if tamper.bad_signature {
            let last = signed.len() - 1;
            signed[last] ^= 0x01;
        }
        let signature: Signature = self.signing_key.sign(&signed);
        let user_handle = tamper.user_handle.as_ref().unwrap_or(&self.user_handle);

        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.to_der().as_bytes()),
                "userHandle": b64(user_handle),
            },
        })
    }

    /// An authenticator that always reports counter 0 (as synced passkeys do).
    pub fn with_zero_counter(mut self) -> Self {
        self.counter_fixed_zero = true;
        self.counter = 0;
        self
    }

    /// The credential id, as the server stores it.
    pub fn credential_id(&self) -> &[u8] {
        &self.credential_id
    }
}

/// The authenticator data without attested credential data or extensions:
/// SHA-256(rp id) ‖ flags ‖ signCount (big-endian).
fn authenticator_data(rp_id: &str, flags: u8, counter: u32) -> Vec<u8> {
    let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
    data.push(flags);
    data.extend_from_slice(&counter.to_be_bytes());
    data
}

/// The compact clientDataJSON bytes for a ceremony of `type_` on the options `public_key`.
fn client_data_json(type_: &str, public_key: &Value, origin: &str, tamper: &Tamper) -> Vec<u8> {
    let challenge = match &tamper.challenge {
        Some(challenge) => challenge.as_str(),
        None => public_key["challenge"]
            .as_str()
            .expect("the options should have a challenge"),
    };
    serde_json::to_vec(&ClientData {
        type_,
        challenge,
        origin: tamper.origin.as_deref().unwrap_or(origin),
        cross_origin: false,
    })
    .expect("the client data should serialize")
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde_json::Value;
    use webauthn_rs::prelude::{
        AuthenticationResult, Passkey, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid,
        WebauthnError,
    };
    use webauthn_rs::{Webauthn, WebauthnBuilder};

    use super::{SoftPasskey, Tamper, b64, unb64};

    const ORIGIN: &str = "http://localhost:8080";

    fn relying_party() -> Webauthn {
        let origin = Url::parse(ORIGIN).expect("the origin is a URL");
        WebauthnBuilder::new("localhost", &origin)
            .expect("localhost is a valid rp id for the origin")
            .build()
            .expect("the relying party should build")
    }

    /// The `publicKey` object of a challenge, as the server sends it.
    fn public_key<T: Serialize>(challenge: &T) -> Value {
        let json = serde_json::to_value(challenge).expect("the challenge should serialize");
        json["publicKey"].clone()
    }

    fn new_user() -> Uuid {
        Uuid::now_v7()
    }

    /// Starts a registration and answers it with `tamper`, returning what the server decides.
    fn try_register(
        rp: &Webauthn,
        user: Uuid,
        tamper: &Tamper,
    ) -> (SoftPasskey, Value, Result<Passkey, WebauthnError>) {
        let (challenge, state) = rp
            .start_passkey_registration(user, "ada@example.com", "Ada", None)
            .expect("the registration should start");
        let (soft, json) = SoftPasskey::register_with(&public_key(&challenge), ORIGIN, tamper);
        let credential: RegisterPublicKeyCredential =
            serde_json::from_value(json.clone()).expect("the registration JSON should parse");
        let result = rp.finish_passkey_registration(&credential, &state);
        (soft, json, result)
    }

    fn register(rp: &Webauthn, user: Uuid) -> (SoftPasskey, Passkey) {
        let (soft, _, result) = try_register(rp, user, &Tamper::default());
        (
            soft,
            result.expect("an honest registration should be accepted"),
        )
    }

    /// Starts a discoverable sign-in and answers it with `tamper`, returning what the server
    /// decides.
    fn try_sign_in(
        rp: &Webauthn,
        soft: &mut SoftPasskey,
        passkey: &Passkey,
        tamper: &Tamper,
    ) -> Result<AuthenticationResult, WebauthnError> {
        let (challenge, state) = rp
            .start_discoverable_authentication()
            .expect("the sign-in should start");
        let json = soft.sign_in_with(&public_key(&challenge), ORIGIN, tamper);
        let credential: PublicKeyCredential =
            serde_json::from_value(json).expect("the assertion JSON should parse");
        rp.finish_discoverable_authentication_v2(&credential, state, passkey)
    }

    #[test]
    fn soft_passkey_registers_and_signs_in_with_webauthn_rs() {
        let rp = relying_party();
        let user = new_user();
        let (challenge, state) = rp
            .start_passkey_registration(user, "ada@example.com", "Ada", None)
            .expect("the registration should start");
        let (mut soft, json) = SoftPasskey::register(&public_key(&challenge), ORIGIN);
        let credential: RegisterPublicKeyCredential =
            serde_json::from_value(json).expect("the registration JSON should parse");
        let mut passkey = rp
            .finish_passkey_registration(&credential, &state)
            .expect("the registration should be accepted");
        assert_eq!(passkey.cred_id().as_slice(), soft.credential_id());

        for expected_counter in 1..=2 {
            let (challenge, state) = rp
                .start_discoverable_authentication()
                .expect("the sign-in should start");
            let json = soft.sign_in(&public_key(&challenge), ORIGIN);
            let credential: PublicKeyCredential =
                serde_json::from_value(json).expect("the assertion JSON should parse");
            let (user_id, credential_id) = rp
                .identify_discoverable_authentication(&credential)
                .expect("the user handle should identify the user");
            assert_eq!(user_id, user);
            assert_eq!(credential_id, soft.credential_id());

            let result = rp
                .finish_discoverable_authentication_v2(&credential, state, &passkey)
                .expect("the assertion should be accepted");
            assert_eq!(result.counter(), expected_counter);
            assert!(result.user_verified());
            assert_eq!(passkey.update_credential(&result), Some(true));
        }
    }

    #[test]
    fn soft_passkey_registration_json_has_the_browser_shape() {
        let rp = relying_party();
        let user = new_user();
        let (challenge, _state) = rp
            .start_passkey_registration(user, "ada@example.com", "Ada", None)
            .expect("the registration should start");
        let options = public_key(&challenge);
        let (soft, json) = SoftPasskey::register(&options, ORIGIN);

        assert_eq!(json["id"], b64(soft.credential_id()));
        assert_eq!(json["rawId"], json["id"]);
        assert_eq!(json["type"], "public-key");
        assert_eq!(json["authenticatorAttachment"], "platform");
        assert_eq!(json["clientExtensionResults"], serde_json::json!({}));
        assert!((16..=32).contains(&soft.credential_id().len()));
        let response = &json["response"];
        assert_eq!(response["transports"], serde_json::json!(["internal"]));
        assert_eq!(response["publicKeyAlgorithm"], -7);

        let client_data = unb64(response["clientDataJSON"].as_str().expect("a string"));
        let expected = format!(
            r#"{{"type":"webauthn.create","challenge":"{}","origin":"{ORIGIN}","crossOrigin":false}}"#,
            options["challenge"]
                .as_str()
                .expect("the options have a challenge"),
        );
        assert_eq!(String::from_utf8(client_data).expect("UTF-8"), expected);

        let attestation = unb64(response["attestationObject"].as_str().expect("a string"));
        let attestation: ciborium::Value =
            ciborium::from_reader(attestation.as_slice()).expect("the attestation is CBOR");
        let fields = attestation.as_map().expect("the attestation is a map");
        let keys: Vec<_> = fields.iter().map(|(key, _)| key.as_text()).collect();
        assert_eq!(keys, [Some("fmt"), Some("attStmt"), Some("authData")]);
        assert_eq!(fields[0].1.as_text(), Some("none"));
        assert_eq!(fields[1].1.as_map().map(Vec::len), Some(0));
        let auth_data = fields[2].1.as_bytes().expect("authData is a byte string");
        assert_eq!(
            b64(auth_data),
            response["authenticatorData"].as_str().expect("a string")
        );
        // rp id hash, flags UP|UV|AT, counter 0, zero AAGUID, then the credential id.
        assert_eq!(auth_data[32], 0x45);
        assert_eq!(auth_data[33..37], [0, 0, 0, 0]);
        assert_eq!(auth_data[37..53], [0; 16]);
        let id_len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
        assert_eq!(&auth_data[55..55 + id_len], soft.credential_id());
    }

    #[test]
    fn soft_passkey_user_handle_is_the_registered_user_id() {
        let rp = relying_party();
        let user = new_user();
        let (mut soft, _passkey) = register(&rp, user);
        let (challenge, _state) = rp
            .start_discoverable_authentication()
            .expect("the sign-in should start");
        let json = soft.sign_in(&public_key(&challenge), ORIGIN);
        let handle = unb64(json["response"]["userHandle"].as_str().expect("a string"));
        assert_eq!(handle, user.as_bytes());

        let other = new_user();
        let tamper = Tamper {
            user_handle: Some(other.as_bytes().to_vec()),
            ..Tamper::default()
        };
        let json = soft.sign_in_with(&public_key(&challenge), ORIGIN, &tamper);
        let credential: PublicKeyCredential =
            serde_json::from_value(json).expect("the assertion JSON should parse");
        let (user_id, _) = rp
            .identify_discoverable_authentication(&credential)
            .expect("the user handle should identify a user");
        assert_eq!(user_id, other);
    }

    #[test]
    fn soft_passkey_zero_counter_is_accepted_every_time() {
        let rp = relying_party();
        let (soft, mut passkey) = register(&rp, new_user());
        let mut soft = soft.with_zero_counter();
        for _ in 0..2 {
            let result = try_sign_in(&rp, &mut soft, &passkey, &Tamper::default())
                .expect("a passkey without a counter should be accepted");
            assert_eq!(result.counter(), 0);
            passkey.update_credential(&result);
        }
    }

    #[test]
    fn soft_passkey_tampered_registrations_are_refused() {
        let rp = relying_party();
        let cases = [
            (
                "wrong origin",
                Tamper {
                    origin: Some("http://evil.example:8080".to_owned()),
                    ..Tamper::default()
                },
            ),
            (
                "wrong rp id",
                Tamper {
                    rp_id: Some("evil.example".to_owned()),
                    ..Tamper::default()
                },
            ),
            (
                "no user verification",
                Tamper {
                    user_verified: false,
                    ..Tamper::default()
                },
            ),
            (
                "other challenge",
                Tamper {
                    challenge: Some(b64(&[7; 32])),
                    ..Tamper::default()
                },
            ),
        ];
        let mut refusals = Vec::new();
        for (name, tamper) in &cases {
            let (_, _, result) = try_register(&rp, new_user(), tamper);
            let error = result.expect_err(name);
            eprintln!("registration, {name}: {error:?}");
            refusals.push(error);
        }
        assert!(matches!(refusals[0], WebauthnError::InvalidRPOrigin));
        assert!(matches!(refusals[1], WebauthnError::InvalidRPIDHash));
        assert!(matches!(refusals[2], WebauthnError::UserNotVerified));
        assert!(matches!(refusals[3], WebauthnError::MismatchedChallenge));
    }

    #[test]
    fn soft_passkey_tampered_sign_ins_are_refused() {
        let rp = relying_party();
        let (mut soft, passkey) = register(&rp, new_user());
        let cases = [
            (
                "wrong origin",
                Tamper {
                    origin: Some("http://evil.example:8080".to_owned()),
                    ..Tamper::default()
                },
            ),
            (
                "wrong rp id",
                Tamper {
                    rp_id: Some("evil.example".to_owned()),
                    ..Tamper::default()
                },
            ),
            (
                "no user verification",
                Tamper {
                    user_verified: false,
                    ..Tamper::default()
                },
            ),
            (
                "bad signature",
                Tamper {
                    bad_signature: true,
                    ..Tamper::default()
                },
            ),
            (
                "other challenge",
                Tamper {
                    challenge: Some(b64(&[7; 32])),
                    ..Tamper::default()
                },
            ),
        ];
        let mut refusals = Vec::new();
        for (name, tamper) in &cases {
            let error = try_sign_in(&rp, &mut soft, &passkey, tamper).expect_err(name);
            eprintln!("sign-in, {name}: {error:?}");
            refusals.push(error);
        }
        assert!(matches!(refusals[0], WebauthnError::InvalidRPOrigin));
        assert!(matches!(refusals[1], WebauthnError::InvalidRPIDHash));
        assert!(matches!(refusals[2], WebauthnError::UserNotVerified));
        assert!(matches!(refusals[3], WebauthnError::AuthenticationFailure));
        assert!(matches!(refusals[4], WebauthnError::MismatchedChallenge));

        // The refusals did not spoil the credential: an honest sign-in still passes.
        try_sign_in(&rp, &mut soft, &passkey, &Tamper::default())
            .expect("an honest sign-in should be accepted");
    }

    #[test]
    fn soft_passkey_counter_going_backwards_is_refused() {
        let rp = relying_party();
        let (mut soft, mut passkey) = register(&rp, new_user());
        let result = try_sign_in(&rp, &mut soft, &passkey, &Tamper::default())
            .expect("the first sign-in should be accepted");
        assert_eq!(result.counter(), 1);
        passkey.update_credential(&result);

        let backwards = Tamper {
            counter: Some(0),
            ..Tamper::default()
        };
        let error = try_sign_in(&rp, &mut soft, &passkey, &backwards)
            .expect_err("a counter going back should be refused");
        eprintln!("sign-in, counter 1 then 0: {error:?}");
        assert!(matches!(error, WebauthnError::CredentialPossibleCompromise));
    }

    #[test]
    fn soft_passkey_base64url_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = b64(&bytes);
        assert!(!text.contains(['=', '+', '/']));
        assert_eq!(unb64(&text), bytes);
        assert_eq!(unb64("AQ=="), [1]);
    }
}
