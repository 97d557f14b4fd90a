//! Where mail goes: an SMTP server, or the log when none is configured.

use std::time::Duration;

use lettre::Tokio1Executor;
use lettre::transport::smtp::AsyncSmtpTransport;

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    /// A real SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// The log, in development: the whole message, to follow its links by hand.
    /// (Production refuses to start without `SMTP_URL`: mail would be lost.)
    Log,
}

/// Why a transport could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
#[error("SMTP_URL: {0}")]
pub struct TransportError(String);

impl Transport {
    /// SMTP when a URL is configured, the log otherwise.
    pub fn from_config(smtp_url: Option<&str>) -> Result<Self, TransportError> {
        match smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| TransportError(e.to_string()))?
                    .timeout(Some(Duration::from_secs(15)))
                    .build();
                Ok(Self::Smtp(transport))
            }
            None => Ok(Self::Log),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn smtp_urls_build_transports() {
        assert!(matches!(
            Transport::from_config(Some("smtp://127.0.0.1:2525")),
            Ok(Transport::Smtp(_))
        ));
        assert!(matches!(Transport::from_config(None), Ok(Transport::Log)));
        assert!(Transport::from_config(Some("smtp://")).is_err());
    }
}
