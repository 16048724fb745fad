//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

use serde_json::{Map, Value};

/// Applies a JSON merge patch to `target`.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
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
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Applies a JSON patch (a list of operations) to `target`.
pub(crate) fn json_patch(target: &mut Value, operations: &Value) -> Result<(), String> {
    let operations = operations
        .as_array()
        .ok_or("a JSON patch must be a list of operations")?;
    for operation in operations {
        let op = operation["op"].as_str().ok_or("operation has no \"op\"")?;
        let path = operation["path"]
            .as_str()
            .ok_or("operation has no \"path\"")?;
        let value = || {
            operation
                .get("value")
                .cloned()
                .ok_or(format!("{op} operation has no \"value\""))
        };
        let from = || {
            operation["from"]
                .as_str()
                .ok_or(format!("{op} operation has no \"from\""))
        };
        match op {
            "add" => add(target, path, value()?)?,
            "remove" => {
                remove(target, path)?;
            }
            "replace" => {
                remove(target, path)?;
                add(target, path, value()?)?;
            }
            "move" => {
                let moved = remove(target, from()?)?;
                add(target, path, moved)?;
            }
            "copy" => {
                let copied = lookup(target, from()?)?.clone();
                add(target, path, copied)?;
            }
            "test" => {
                if *lookup(target, path)? != value()? {
                    return Err(format!("testing value {path} failed"));
                }
            }
            other => return Err(format!("unexpected kind: {other}")),
        }
    }
    Ok(())
}

/// Splits a JSON pointer into its parent's tokens and the last token.
fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path.strip_prefix('/').ok_or(format!(
        "JSON pointer must be empty or start with a \"/\": {path:?}"
    ))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn lookup<'a>(target: &'a Value, path: &str) -> Result<&'a Value, String> {
    let missing = || format!("doc is missing path: {path:?}");
    tokens(path)?
        .iter()
        .try_fold(target, |value, token| match value {
            Value::Object(map) => map.get(token).ok_or_else(missing),
            Value::Array(items) => token
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .ok_or_else(missing),
            _ => Err(missing()),
        })
}

fn parent<'a>(target: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let mut tokens = tokens(path)?;
    let last = tokens.pop().ok_or("the whole document cannot be patched")?;
    let missing = || format!("doc is missing path: {path:?}");
    let mut value = target;
    for token in tokens {
        value = match value {
            Value::Object(map) => map.get_mut(&token).ok_or_else(missing)?,
            Value::Array(items) => token
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get_mut(i))
                .ok_or_else(missing)?,
            _ => return Err(missing()),
        };
    }
    Ok((value, last))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (parent, last) = parent(target, path)?;
    match parent {
        Value::Object(map) => {
            map.insert(last, value);
            Ok(())
        }
        Value::Array(items) => {
            let index = if last == "-" {
                items.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= items.len())
                    .ok_or(format!(
                        "add operation does not apply: index out of bounds in {path:?}"
                    ))?
            };
            items.insert(index, value);
            Ok(())
        }
        _ => Err(format!("doc is missing path: {path:?}")),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let missing = || format!("doc is missing path: {path:?}");
    let (parent, last) = parent(target, path)?;
    match parent {
        Value::Object(map) => map.remove(&last).ok_or_else(missing),
        Value::Array(items) => {
            let index = last
                .parse::<usize>()
                .ok()
                .filter(|i| *i < items.len())
                .ok_or_else(missing)?;
            Ok(items.remove(index))
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_sets_replaces_and_deletes() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "list": [1, 2], "gone": true});
        merge_patch(
            &mut doc,
            &json!({"a": {"b": 5, "c": null}, "list": [3], "gone": null, "new": "x"}),
        );
        assert_eq!(doc, json!({"a": {"b": 5}, "list": [3], "new": "x"}));
    }

    #[test]
    fn json_patch_applies_each_operation() {
        let mut doc = json!({"metadata": {"labels": {"a": "1"}}, "items": [1, 2, 3]});
        let ops = json!([
            {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "9"},
            {"op": "remove", "path": "/items/0"},
            {"op": "add", "path": "/items/-", "value": 4},
            {"op": "move", "from": "/items/0", "path": "/first"},
            {"op": "copy", "from": "/first", "path": "/second"},
            {"op": "test", "path": "/second", "value": 2}
        ]);
        json_patch(&mut doc, &ops).unwrap();
        assert_eq!(
            doc,
            json!({"metadata": {"labels": {"a": "9", "b/c": "2"}}, "items": [3, 4], "first": 2, "second": 2})
        );
    }

    #[test]
    fn failing_json_patches_say_why_and_do_not_panic() {
        let mut doc = json!({"a": [1]});
        for ops in [
            json!([{"op": "test", "path": "/a/0", "value": 2}]),
            json!([{"op": "remove", "path": "/nope"}]),
            json!([{"op": "add", "path": "/a/5", "value": 1}]),
            json!([{"op": "replace", "path": "a", "value": 1}]),
            json!([{"op": "frobnicate", "path": "/a"}]),
            json!({"op": "add"}),
        ] {
            assert!(json_patch(&mut doc, &ops).is_err(), "{ops}");
        }
    }
}
