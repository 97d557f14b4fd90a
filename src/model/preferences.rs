//! Preferences: any JSON object within bounds of size and depth.

use serde_json::Value;

use super::merge_patch;
use crate::validation::Invalid;

/// Largest accepted preferences document, serialised.
pub const MAX_PREFERENCES_BYTES: usize = 16 * 1024;

/// Deepest accepted nesting of preferences. Settings need a few levels; a bound well
/// below common parsers' limits (serde_json's is 128) keeps every response that embeds
/// them (a user inside a page of users) readable by any client.
pub const MAX_PREFERENCES_DEPTH: usize = 32;

/// Checks that preferences are a JSON object of at most 16 KiB, nested at most
/// [`MAX_PREFERENCES_DEPTH`] levels.
pub fn check_preferences(value: &serde_json::Value) -> Result<(), Invalid> {
    if !value.is_object() {
        return Err(Invalid::new("invalid_type", "must be a JSON object"));
    }
    if depth(value) > MAX_PREFERENCES_DEPTH {
        return Err(Invalid::new(
            "too_deep",
            format!("must not nest more than {MAX_PREFERENCES_DEPTH} levels"),
        ));
    }
    if serde_json::to_vec(value).map_or(usize::MAX, |v| v.len()) > MAX_PREFERENCES_BYTES {
        return Err(Invalid::new("too_large", "must be at most 16 KiB"));
    }
    // PostgreSQL's jsonb cannot hold U+0000; refuse it here rather than fail at the insert.
    if has_nul(value) {
        return Err(Invalid::new(
            "invalid_characters",
            "must not contain U+0000",
        ));
    }
    Ok(())
}

/// Levels of objects and arrays: 0 for a scalar, 1 for `{"theme": "dark"}`. (The JSON
/// parser bounds the recursion.)
fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// The preferences after a change: `null` clears them, an object merges into them as a JSON
/// Merge Patch (RFC 7396); the result must still pass [`check_preferences`].
pub fn patched(current: Value, patch: &Value) -> Result<Value, Invalid> {
    let preferences = match patch {
        Value::Null => serde_json::json!({}),
        Value::Object(_) => {
            let mut preferences = current;
            merge_patch::apply(&mut preferences, patch);
            preferences
        }
        _ => {
            return Err(Invalid::new(
                "invalid_type",
                "must be a JSON object (a merge patch) or null",
            ));
        }
    };
    check_preferences(&preferences)?;
    Ok(preferences)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_are_small_objects() {
        assert!(check_preferences(&serde_json::json!({"theme": "dark"})).is_ok());
        assert!(check_preferences(&serde_json::json!([1, 2])).is_err());
        let big = serde_json::json!({"x": "y".repeat(MAX_PREFERENCES_BYTES)});
        assert_eq!(
            check_preferences(&big).err().map(|e| e.code),
            Some("too_large")
        );
        let nested = |levels: usize| {
            let text = format!("{}1{}", "{\"a\":".repeat(levels), "}".repeat(levels));
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default()
        };
        assert!(check_preferences(&nested(MAX_PREFERENCES_DEPTH)).is_ok());
        assert_eq!(
            check_preferences(&nested(MAX_PREFERENCES_DEPTH + 1))
                .err()
                .map(|e| e.code),
            Some("too_deep")
        );
        assert_eq!(
            check_preferences(&serde_json::json!({"a": [[[[]]]]})).ok(),
            Some(())
        );
    }

    #[test]
    fn patches_merge_clear_or_are_refused() {
        let current = serde_json::json!({"theme": "dark", "locale": "en"});
        let merged = patched(
            current.clone(),
            &serde_json::json!({"locale": null, "x": 1}),
        );
        assert_eq!(merged, Ok(serde_json::json!({"theme": "dark", "x": 1})));
        assert_eq!(
            patched(current.clone(), &Value::Null),
            Ok(serde_json::json!({}))
        );
        let refused = patched(current, &serde_json::json!([1]));
        assert_eq!(refused.err().map(|e| e.code), Some("invalid_type"));
    }
}
