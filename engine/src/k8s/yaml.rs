//! Manifests as YAML: one document per object, that reads back to the same JSON value.
//!
//! Written with `serde_norway` (the maintained fork of `serde_yaml`), which quotes every string
//! that a YAML reader would take for a number, a boolean or null (`"0777"`, `"yes"`, `"~"`).

use serde_json::Value;

use super::error::K8sError;

/// The object as a YAML document, without the leading `---`.
pub fn to_yaml(object: &Value) -> Result<String, K8sError> {
    serde_norway::to_string(object).map_err(|e| K8sError::Protocol {
        what: "writing a manifest as YAML".into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::fixtures;

    fn round_trip(v: &Value) {
        let text = to_yaml(v).unwrap();
        let back: Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(&back, v, "{text}");
    }

    #[test]
    fn every_recorded_object_reads_back_the_same() {
        let lists = fixtures::dir().join("lists");
        let mut count = 0;
        for f in std::fs::read_dir(lists).unwrap() {
            let v: Value =
                serde_json::from_slice(&std::fs::read(f.unwrap().path()).unwrap()).unwrap();
            for item in v["items"].as_array().unwrap() {
                round_trip(item);
                count += 1;
            }
        }
        assert!(count > 200, "{count}");
    }

    #[test]
    fn strings_that_look_like_other_things_stay_strings() {
        let tricky = [
            "",
            "true",
            "yes",
            "no",
            "on",
            "off",
            "y",
            "N",
            "null",
            "~",
            "0777",
            "0x1F",
            "1e3",
            "1_000",
            ".inf",
            "-.nan",
            "2026-01-01",
            "12:30",
            "- a",
            "a: b",
            "#c",
            "'q'",
            "\"d\"",
            " lead",
            "trail ",
            "line\nbreak\n",
            "tab\there",
            "é✓",
            "*ref",
            "&anchor",
            "!tag",
            "%p",
            "@at",
            "`tick",
            "{x}",
            "[y]",
            ">",
            "|",
            "?",
            ",",
            "\u{7f}",
            "\u{0}",
        ];
        for s in tricky {
            round_trip(&serde_json::json!({ "k": s, s: [s] }));
        }
        round_trip(&serde_json::json!({
            "big": u64::MAX, "neg": i64::MIN, "f": 0.1, "e": [], "o": {}, "n": null, "b": false
        }));
    }
}
