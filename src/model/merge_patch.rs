//! JSON Merge Patch (RFC 7396), used for preferences.

use serde_json::{Map, Value};

/// Applies `patch` to `target`: an object patch merges key by key (a `null` value removes
/// the key), anything else replaces the target.
pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                apply(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::apply;
    use serde_json::{Value, json};

    fn merged(target: Value, patch: Value) -> Value {
        let mut target = target;
        apply(&mut target, &patch);
        target
    }

    #[test]
    fn follows_the_rfc_7396_examples() {
        // The test cases of RFC 7396, appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            assert_eq!(
                merged(target.clone(), patch.clone()),
                expected,
                "{target} + {patch}"
            );
        }
    }

    /// Property-based checks of the RFC 7396 rules over random JSON.
    mod props {
        use super::{apply, merged};
        use proptest::prelude::*;
        use serde_json::{Map, Number, Value};

        /// Few distinct keys, so that patches and targets often touch the same ones.
        fn key() -> impl Strategy<Value = String> {
            prop_oneof![4 => "[a-d]", 1 => ".{0,4}"]
        }

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
                ".{0,6}".prop_map(Value::String),
            ]
        }

        /// Any JSON value, nested at most `depth` containers deep.
        fn json(depth: u32) -> impl Strategy<Value = Value> {
            leaf().prop_recursive(depth, 64, 5, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    prop::collection::vec((key(), inner), 0..5)
                        .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
                ]
            })
        }

        /// A chain of `depth` single-key objects around a leaf: deep, but cheap.
        fn chain() -> impl Strategy<Value = Value> {
            (prop::collection::vec(key(), 0..200), leaf()).prop_map(|(keys, leaf)| {
                keys.into_iter().fold(leaf, |inner, key| {
                    Value::Object(Map::from_iter([(key, inner)]))
                })
            })
        }

        /// A patch object whose members are neither null nor objects.
        fn flat_patch() -> impl Strategy<Value = Map<String, Value>> {
            let member = json(3).prop_filter("neither null nor an object", |v| {
                !v.is_null() && !v.is_object()
            });
            prop::collection::vec((key(), member), 0..5).prop_map(|p| p.into_iter().collect())
        }

        /// True when no object reachable from `value` through object members only has a
        /// null member (nulls inside arrays are array contents, which a patch copies whole).
        fn no_null_members(value: &Value) -> bool {
            match value {
                Value::Object(map) => map.values().all(|v| !v.is_null() && no_null_members(v)),
                _ => true,
            }
        }

        /// `value` without the null members of its objects (reached through objects only).
        fn without_null_members(value: Value) -> Value {
            match value {
                Value::Object(map) => Value::Object(
                    map.into_iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| (k, without_null_members(v)))
                        .collect(),
                ),
                other => other,
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn flat_patches_replace_their_keys(target in json(3), patch in flat_patch()) {
                let result = merged(target.clone(), Value::Object(patch.clone()));
                let mut expected = match target {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                for (key, value) in patch {
                    expected.insert(key, value);
                }
                prop_assert_eq!(result, Value::Object(expected));
            }

            #[test]
            fn applying_twice_is_applying_once(target in json(4), patch in json(4)) {
                let once = merged(target, patch.clone());
                let twice = merged(once.clone(), patch);
                prop_assert_eq!(twice, once);
            }

            #[test]
            fn null_members_remove_their_key(target in json(3), patch in json(3), gone in key()) {
                let mut patch = match patch {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                patch.insert(gone.clone(), Value::Null);
                let result = merged(target, Value::Object(patch));
                let Value::Object(result) = result else {
                    return Err(TestCaseError::fail("an object patch yields an object"));
                };
                prop_assert!(!result.contains_key(&gone));
            }

            #[test]
            fn other_patches_replace_the_whole_target(
                target in json(3),
                patch in prop_oneof![leaf(), prop::collection::vec(json(3), 0..5).prop_map(Value::Array)],
            ) {
                prop_assert_eq!(merged(target, patch.clone()), patch);
            }

            #[test]
            fn object_patches_merge_member_by_member(target in json(3), patch in json(3)) {
                let Value::Object(members) = &patch else {
                    return Ok(());
                };
                let result = merged(target.clone(), patch.clone());
                let Value::Object(result) = result else {
                    return Err(TestCaseError::fail("an object patch yields an object"));
                };
                let before = target.as_object().cloned().unwrap_or_default();
                for (key, value) in &before {
                    if !members.contains_key(key) {
                        prop_assert_eq!(result.get(key), Some(value), "untouched key {}", key);
                    }
                }
                for (key, value) in members {
                    let inner = before.get(key).cloned().unwrap_or(Value::Null);
                    let expected = (!value.is_null()).then(|| merged(inner, value.clone()));
                    prop_assert_eq!(result.get(key), expected.as_ref(), "patched key {}", key);
                }
                prop_assert!(result.keys().all(|k| before.contains_key(k) || members.contains_key(k)));
            }

            #[test]
            fn patches_introduce_no_null_members(target in json(4), patch in json(4)) {
                let target = without_null_members(target);
                let result = merged(target, patch);
                prop_assert!(no_null_members(&result), "{}", result);
            }

        }

        proptest! {
            // Deep documents cost more per case.
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            #[test]
            fn deep_documents_never_panic(
                target in prop_oneof![json(12), chain()],
                patch in prop_oneof![json(12), chain()],
            ) {
                let mut result = target;
                apply(&mut result, &patch);
                apply(&mut result, &patch);
            }
        }
    }
}
