//! Reading fields of objects held as JSON values: a field that is missing or of another type reads
//! as absent, never as an error, so an object the schema would reject is still stored.

use serde_json::Value;

/// The string at a JSON pointer (`/metadata/name`), if there is one.
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The object's `metadata.name`, empty when it has none.
pub fn name_of(v: &Value) -> String {
    str_at(v, "/metadata/name").unwrap_or_default().to_string()
}
