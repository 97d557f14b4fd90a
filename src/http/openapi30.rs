//! The OpenAPI document in version 3.0, converted in code from the 3.1 document (the one
//! source of truth), for the tools that read only 3.0: gateways' import, older client
//! generators, mock servers.
//!
//! What changes, and why each is the 3.0 way of saying the same thing:
//! - `type: [T, "null"]`, and a `{"type": "null"}` member of `oneOf`/`anyOf`, become
//!   `nullable: true` (on the remaining member, wrapped in `allOf` when it is a `$ref`);
//! - `examples: [..]` in a schema becomes `example` (its first value);
//! - `const` becomes a one-value `enum`;
//! - `contentMediaType`/`contentEncoding` become `format: binary` (or `byte` for base64);
//! - keywords beside a `$ref` (ignored beside it in 3.0) move next to an `allOf` of it;
//! - numeric `exclusiveMinimum`/`exclusiveMaximum` become `minimum`/`maximum` with the
//!   boolean flag;
//! - the license `identifier` becomes the `url` of its SPDX page;
//! - `info.summary`, `webhooks`, `jsonSchemaDialect`,
//!   `components.pathItems` and the 3.1-only schema keywords (`propertyNames`,
//!   `prefixItems`, `if`/`then`/`else`, …) are left out.

use serde_json::{Map, Value, json};

/// The OpenAPI version of the converted document.
pub const VERSION: &str = "3.0.3";

/// Schema keywords of JSON Schema 2020-12 that OpenAPI 3.0's schema object lacks.
const ONLY_IN_3_1: &[&str] = &[
    "$schema",
    "$id",
    "$anchor",
    "$defs",
    "$comment",
    "$dynamicRef",
    "$dynamicAnchor",
    "propertyNames",
    "patternProperties",
    "prefixItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "dependentRequired",
    "dependentSchemas",
    "contains",
    "minContains",
    "maxContains",
    "if",
    "then",
    "else",
];

/// The 3.0 form of a 3.1 document.
pub fn convert(document: &Value) -> Value {
    let mut document = document.clone();
    let Some(root) = document.as_object_mut() else {
        return document;
    };
    root.insert("openapi".to_owned(), json!(VERSION));
    root.remove("webhooks");
    root.remove("jsonSchemaDialect");
    if let Some(info) = root.get_mut("info").and_then(Value::as_object_mut) {
        info.remove("summary");
        // 3.0 names a license by URL: the SPDX page of the 3.1 `identifier`.
        if let Some(license) = info.get_mut("license").and_then(Value::as_object_mut)
            && let Some(Value::String(identifier)) = license.remove("identifier")
        {
            let url = format!("https://spdx.org/licenses/{identifier}.html");
            license.entry("url").or_insert(Value::String(url));
        }
    }
    if let Some(components) = root.get_mut("components").and_then(Value::as_object_mut) {
        components.remove("pathItems");
        for schema in values_of(components.get_mut("schemas")) {
            convert_schema(schema);
        }
        for parameter in values_of(components.get_mut("parameters")) {
            convert_parameter(parameter);
        }
        for header in values_of(components.get_mut("headers")) {
            convert_parameter(header);
        }
        for response in values_of(components.get_mut("responses")) {
            convert_response(response);
        }
        for body in values_of(components.get_mut("requestBodies")) {
            convert_content(body.get_mut("content"));
        }
    }
    for item in values_of(root.get_mut("paths")) {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for parameter in items_of(item.get_mut("parameters")) {
            convert_parameter(parameter);
        }
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            for parameter in items_of(operation.get_mut("parameters")) {
                convert_parameter(parameter);
            }
            if let Some(body) = operation.get_mut("requestBody") {
                convert_content(body.get_mut("content"));
            }
            for response in values_of(operation.get_mut("responses")) {
                convert_response(response);
            }
        }
    }
    document
}

/// The values of an object (none for anything else).
fn values_of(value: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    value
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|map| map.values_mut())
}

/// The items of an array (none for anything else).
fn items_of(value: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    value
        .and_then(Value::as_array_mut)
        .into_iter()
        .flat_map(|items| items.iter_mut())
}

/// A parameter or header: its schema, and its content if it has one.
fn convert_parameter(parameter: &mut Value) {
    if let Some(schema) = parameter.get_mut("schema") {
        convert_schema(schema);
    }
    convert_content(parameter.get_mut("content"));
}

fn convert_response(response: &mut Value) {
    for header in values_of(response.get_mut("headers")) {
        convert_parameter(header);
    }
    convert_content(response.get_mut("content"));
}

/// Media types: their schemas (their `examples` maps are 3.0 already).
fn convert_content(content: Option<&mut Value>) {
    for media in values_of(content) {
        if let Some(schema) = media.get_mut("schema") {
            convert_schema(schema);
        }
    }
}

/// One schema and every schema inside it.
fn convert_schema(schema: &mut Value) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    for keyword in ONLY_IN_3_1 {
        map.remove(*keyword);
    }
    nullable_from_type_list(map);
    for keyword in ["oneOf", "anyOf"] {
        nullable_from_null_member(map, keyword);
    }
    if let Some(value) = map.remove("const") {
        map.insert("enum".to_owned(), Value::Array(vec![value]));
    }
    if let Some(Value::Array(examples)) = map.remove("examples")
        && !map.contains_key("example")
        && let Some(first) = examples.into_iter().next()
    {
        map.insert("example".to_owned(), first);
    }
    binary_from_content_keywords(map);
    for (bound, flag) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(limit) = map.get(bound).filter(|v| v.is_number()).cloned() {
            map.insert(flag.to_owned(), limit);
            map.insert(bound.to_owned(), Value::Bool(true));
        }
    }
    for keyword in ["properties"] {
        for inner in values_of(map.get_mut(keyword)) {
            convert_schema(inner);
        }
    }
    for keyword in ["items", "additionalProperties", "not"] {
        if let Some(inner) = map.get_mut(keyword) {
            convert_schema(inner);
        }
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        for inner in items_of(map.get_mut(keyword)) {
            convert_schema(inner);
        }
    }
    siblings_of_ref_into_all_of(map);
}

/// `type: [T, "null"]` → `type: T, nullable: true`; several other types → `anyOf` of them.
fn nullable_from_type_list(map: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = map.get("type").cloned() else {
        return;
    };
    let null = json!("null");
    let others: Vec<Value> = types.iter().filter(|t| **t != null).cloned().collect();
    if others.len() < types.len() {
        map.insert("nullable".to_owned(), Value::Bool(true));
    }
    match others.as_slice() {
        [] => {
            map.remove("type");
        }
        [one] => {
            map.insert("type".to_owned(), one.clone());
        }
        many => {
            map.remove("type");
            let any: Vec<Value> = many.iter().map(|t| json!({"type": t})).collect();
            map.insert("anyOf".to_owned(), Value::Array(any));
        }
    }
}

/// A `{"type": "null"}` member of `oneOf`/`anyOf` → `nullable: true` on what remains.
fn nullable_from_null_member(map: &mut Map<String, Value>, keyword: &str) {
    let Some(Value::Array(members)) = map.get(keyword).cloned() else {
        return;
    };
    let is_null = |member: &Value| member == &json!({"type": "null"});
    if !members.iter().any(is_null) {
        return;
    }
    let rest: Vec<Value> = members.into_iter().filter(|m| !is_null(m)).collect();
    map.insert("nullable".to_owned(), Value::Bool(true));
    match rest.len() {
        0 => {
            map.remove(keyword);
        }
        // One member left: `allOf` of it says "this schema", and carries `nullable` in 3.0.
        1 => {
            map.remove(keyword);
            map.insert("allOf".to_owned(), Value::Array(rest));
        }
        _ => {
            map.insert(keyword.to_owned(), Value::Array(rest));
        }
    }
}

/// `contentMediaType` (any binary content) and `contentEncoding: base64` → `format`.
fn binary_from_content_keywords(map: &mut Map<String, Value>) {
    let media = map.remove("contentMediaType");
    let encoding = map.remove("contentEncoding");
    let format = match (media, encoding) {
        (_, Some(encoding)) if encoding == "base64" => "byte",
        (Some(_), _) | (_, Some(_)) => "binary",
        (None, None) => return,
    };
    map.insert("format".to_owned(), json!(format));
    map.entry("type").or_insert(json!("string"));
}

/// In 3.0 a `$ref` replaces its whole object: keywords beside it would be ignored, so the
/// reference moves into an `allOf` and they stay beside that.
fn siblings_of_ref_into_all_of(map: &mut Map<String, Value>) {
    if map.len() < 2 {
        return;
    }
    if let Some(reference) = map.remove("$ref") {
        let mut all_of = vec![json!({"$ref": reference})];
        if let Some(Value::Array(existing)) = map.remove("allOf") {
            all_of.extend(existing);
        }
        map.insert("allOf".to_owned(), Value::Array(all_of));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_of(schema: Value) -> Value {
        let document = json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1", "summary": "s",
                     "license": {"name": "MIT", "identifier": "MIT"}},
            "paths": {},
            "webhooks": {"x": {}},
            "components": {"schemas": {"S": schema}},
        });
        let converted = convert(&document);
        assert_eq!(converted["openapi"], VERSION);
        assert!(converted.get("webhooks").is_none());
        assert!(converted["info"].get("summary").is_none());
        assert_eq!(
            converted["info"]["license"],
            json!({"name": "MIT", "url": "https://spdx.org/licenses/MIT.html"})
        );
        converted["components"]["schemas"]["S"].clone()
    }

    #[test]
    fn nullable_types_become_nullable() {
        assert_eq!(
            schema_of(json!({"type": ["string", "null"], "maxLength": 3})),
            json!({"type": "string", "nullable": true, "maxLength": 3})
        );
        assert_eq!(
            schema_of(json!({"type": ["string", "integer"]})),
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})
        );
        assert_eq!(
            schema_of(json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/R"}]})),
            json!({"nullable": true, "allOf": [{"$ref": "#/components/schemas/R"}]})
        );
        assert_eq!(
            schema_of(
                json!({"anyOf": [{"type": "null"}, {"type": "string"}, {"type": "integer"}]})
            ),
            json!({"nullable": true, "anyOf": [{"type": "string"}, {"type": "integer"}]})
        );
    }

    #[test]
    fn examples_const_and_binary_content_take_their_3_0_forms() {
        assert_eq!(
            schema_of(json!({"type": "string", "examples": ["a", "b"], "const": "a"})),
            json!({"type": "string", "example": "a", "enum": ["a"]})
        );
        assert_eq!(
            schema_of(json!({"type": "string", "contentMediaType": "image/png"})),
            json!({"type": "string", "format": "binary"})
        );
        assert_eq!(
            schema_of(json!({"contentEncoding": "base64"})),
            json!({"type": "string", "format": "byte"})
        );
    }

    #[test]
    fn bounds_refs_and_3_1_keywords() {
        assert_eq!(
            schema_of(json!({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10})),
            json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true,
                   "maximum": 10, "exclusiveMaximum": true})
        );
        assert_eq!(
            schema_of(json!({"$ref": "#/components/schemas/R", "description": "d"})),
            json!({"allOf": [{"$ref": "#/components/schemas/R"}], "description": "d"})
        );
        assert_eq!(
            schema_of(json!({"$ref": "#/components/schemas/R"})),
            json!({"$ref": "#/components/schemas/R"})
        );
        assert_eq!(
            schema_of(json!({"type": "object", "propertyNames": {"pattern": "x"},
                             "properties": {"a": {"type": ["integer", "null"], "const": 1}},
                             "additionalProperties": {"type": ["string", "null"]},
                             "items": {"prefixItems": []}})),
            json!({"type": "object",
                   "properties": {"a": {"type": "integer", "nullable": true, "enum": [1]}},
                   "additionalProperties": {"type": "string", "nullable": true},
                   "items": {}})
        );
    }

    #[test]
    fn schemas_are_found_in_parameters_bodies_responses_and_headers() {
        let nullable = json!({"type": ["string", "null"]});
        let document = json!({
            "openapi": "3.1.0",
            "paths": {"/x": {
                "parameters": [{"name": "a", "in": "query", "schema": nullable}],
                "post": {
                    "parameters": [{"name": "b", "in": "query", "schema": nullable}],
                    "requestBody": {"content": {"application/json": {
                        "schema": nullable, "examples": {"one": {"value": "v"}}}}},
                    "responses": {"200": {
                        "headers": {"H": {"schema": nullable}},
                        "content": {"application/json": {"schema": nullable}}}}
                }
            }},
            "components": {"responses": {"R": {"content": {"text/plain": {"schema": nullable}}}}}
        });
        let converted = convert(&document);
        let expected = json!({"type": "string", "nullable": true});
        let item = &converted["paths"]["/x"];
        assert_eq!(item["parameters"][0]["schema"], expected);
        assert_eq!(item["post"]["parameters"][0]["schema"], expected);
        let body = &item["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(body["schema"], expected);
        assert_eq!(
            body["examples"],
            json!({"one": {"value": "v"}}),
            "media examples stay"
        );
        let response = &item["post"]["responses"]["200"];
        assert_eq!(response["headers"]["H"]["schema"], expected);
        assert_eq!(response["content"]["application/json"]["schema"], expected);
        assert_eq!(
            converted["components"]["responses"]["R"]["content"]["text/plain"]["schema"],
            expected
        );
    }
}
