//! A wrapper that keeps secrets out of `Debug` output and therefore out of logs.

use std::fmt;
use std::str::FromStr;

/// A value that must never be printed: keys, passwords, URLs with credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself, for the few places that must use it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Deserialises like the value it wraps: request bodies carry passwords and tokens as
/// plain strings, and they stay out of `Debug` from the moment they are read. (There is
/// no `Serialize`: a secret is never written back out by accident.)
impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self)
    }
}

impl FromStr for Secret<String> {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_hides_the_value() {
        let secret = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn it_reads_like_the_value_it_wraps() {
        let secret: Option<Secret<String>> = serde_json::from_str("\"hunter2\"").ok();
        assert_eq!(
            secret.as_ref().map(|s| s.expose().as_str()),
            Some("hunter2")
        );
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
