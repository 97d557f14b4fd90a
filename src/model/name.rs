//! Display names, trimmed and bounded.

use crate::validation::Invalid;

/// A display name: 1-100 characters after trimming, without control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Trims and checks a name.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim();
        let length = value.chars().count();
        if length == 0 {
            return Err(Invalid::new("required", "must not be empty"));
        }
        if length > 100 {
            return Err(Invalid::new("too_long", "must be at most 100 characters"));
        }
        if value.chars().any(char::is_control) {
            return Err(Invalid::new(
                "invalid_characters",
                "must not contain control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            Name::parse("  Ada  ").ok().map(|n| n.as_str().to_owned()),
            Some("Ada".into())
        );
        assert_eq!(Name::parse("   ").err().map(|e| e.code), Some("required"));
        assert!(
            Name::parse(&"é".repeat(100)).is_ok(),
            "100 characters, not bytes"
        );
        assert_eq!(
            Name::parse(&"x".repeat(101)).err().map(|e| e.code),
            Some("too_long")
        );
        assert!(Name::parse("Ada\nBcc: x").is_err());
    }
}
