//! Label selectors as kubectl writes them, parsed and matched against an object's labels.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::error::K8sError;

/// One term of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Term {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A label selector: all its terms must hold. The empty selector matches everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    text: String,
    terms: Vec<Term>,
}

impl Selector {
    /// Parses `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key` and
    /// `!key`, separated by commas.
    pub fn parse(text: &str) -> Result<Selector, K8sError> {
        let bad = |why: &str| K8sError::InvalidInput(format!("label selector {text:?}: {why}"));
        let mut terms = Vec::new();
        for raw in split_terms(text) {
            let t = raw.trim();
            if t.is_empty() {
                return Err(bad("an empty term"));
            }
            let term = if let Some(key) = t.strip_prefix('!') {
                Term::NotExists(key.trim().to_string())
            } else if let Some((k, v)) = t.split_once("!=") {
                Term::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                Term::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, set)) = split_set(t, " notin ") {
                Term::NotIn(k, set.ok_or_else(|| bad("a set must be in parentheses"))?)
            } else if let Some((k, set)) = split_set(t, " in ") {
                Term::In(k, set.ok_or_else(|| bad("a set must be in parentheses"))?)
            } else {
                Term::Exists(t.to_string())
            };
            let key = match &term {
                Term::Equals(k, _)
                | Term::NotEquals(k, _)
                | Term::In(k, _)
                | Term::NotIn(k, _)
                | Term::Exists(k)
                | Term::NotExists(k) => k,
            };
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(bad(&format!("{t:?} is not a term")));
            }
            terms.push(term);
        }
        Ok(Selector {
            text: text.trim().to_string(),
            terms,
        })
    }

    /// True when `labels` satisfy every term.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.terms.iter().all(|t| match t {
            Term::Equals(k, v) => labels.get(k) == Some(v),
            Term::NotEquals(k, v) => labels.get(k) != Some(v),
            Term::In(k, set) => labels.get(k).is_some_and(|v| set.contains(v)),
            Term::NotIn(k, set) => labels.get(k).is_none_or(|v| !set.contains(v)),
            Term::Exists(k) => labels.contains_key(k),
            Term::NotExists(k) => !labels.contains_key(k),
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits at commas outside parentheses; an empty text has no terms.
fn split_terms(text: &str) -> Vec<&str> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// `key <op> (a, b)`: the key and the set, `None` as set when the parentheses are missing.
fn split_set(t: &str, op: &str) -> Option<(String, Option<Vec<String>>)> {
    let (k, rest) = t.split_once(op)?;
    let set = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .map(|inner| {
            inner
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect()
        });
    Some((k.trim().to_string(), set))
}

/// The labels of an object; labels that are not strings are left out.
pub fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_form_of_term_matches_as_kubectl_does() {
        let l = labels(&[("app", "shop"), ("tier", "db")]);
        let yes = [
            "",
            "app=shop",
            "app==shop",
            "app=shop,tier!=web",
            "tier in (db, web)",
            "tier notin (web)",
            "app",
            "!missing",
            "missing notin (x)",
        ];
        for s in yes {
            assert!(Selector::parse(s).unwrap().matches(&l), "{s}");
        }
        let no = [
            "app=blog",
            "tier!=db",
            "tier in (web)",
            "tier notin (db,web)",
            "missing",
            "!app",
            "missing in (x)",
        ];
        for s in no {
            assert!(!Selector::parse(s).unwrap().matches(&l), "{s}");
        }
    }

    #[test]
    fn bad_selectors_are_refused_with_the_text() {
        for s in ["app=shop,", "tier in db", "a b", "=x"] {
            let e = Selector::parse(s).unwrap_err().to_string();
            assert!(e.contains(s), "{e}");
        }
    }

    #[test]
    fn labels_that_are_not_strings_are_ignored() {
        let o = serde_json::json!({"metadata": {"labels": {"a": "1", "b": 2, "c": null}}});
        assert_eq!(labels_of(&o), labels(&[("a", "1")]));
        assert!(labels_of(&serde_json::json!({"metadata": []})).is_empty());
    }
}
