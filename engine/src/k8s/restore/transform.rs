//! `--transform FILE`: JSON-patch rules (RFC 6902) applied to the objects of a restore that they
//! match by resource, namespace, name and labels, after sanitising and renaming, as Velero's
//! resource modifiers and Kasten's TransformSets do (spec/kubernetes.md, "Transforms").
//!
//! ```yaml
//! rules:
//!   - resources: [deployments.apps]   # resource.group globs (required)
//!     namespaces: [shop*]             # globs of the namespace restored into (optional)
//!     names: [web]                    # name globs (optional)
//!     selector: tier=frontend         # label selector (optional)
//!     patch:
//!       - {op: replace, path: /spec/replicas, value: 1}
//! ```

use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use serde_json::Value;

use crate::k8s::error::K8sError;
use crate::k8s::labels::{labels_of, Selector};

/// The rules of a transform file, in order.
#[derive(Debug, Default)]
pub struct Transforms {
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    resources: GlobSet,
    namespaces: Option<GlobSet>,
    names: Option<GlobSet>,
    selector: Option<Selector>,
    patch: json_patch::Patch,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRules {
    rules: Vec<FileRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRule {
    resources: Vec<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    names: Vec<String>,
    selector: Option<String>,
    patch: json_patch::Patch,
}

fn globs(what: &str, patterns: &[String]) -> Result<Option<GlobSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| format!("{what} {p:?}: {e}"))?);
    }
    b.build().map(Some).map_err(|e| format!("{what}: {e}"))
}

impl Transforms {
    /// Reads a transform file (YAML or JSON).
    pub fn read(path: &Path) -> Result<Transforms, K8sError> {
        let invalid =
            |why: String| K8sError::InvalidInput(format!("--transform {}: {why}", path.display()));
        let text = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
        Transforms::parse(&text).map_err(invalid)
    }

    /// Parses the rules of a transform file.
    pub fn parse(text: &[u8]) -> Result<Transforms, String> {
        let file: FileRules = serde_norway::from_slice(text).map_err(|e| match e.location() {
            Some(l) => format!("line {}, column {}: {e}", l.line(), l.column()),
            None => e.to_string(),
        })?;
        let rules = file
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let n = i + 1;
                if r.resources.is_empty() {
                    return Err(format!("rule {n}: `resources` names no resource"));
                }
                Ok(Rule {
                    resources: globs("resources", &r.resources)
                        .map_err(|e| format!("rule {n}: {e}"))?
                        .unwrap_or_else(GlobSet::empty),
                    namespaces: globs("namespaces", &r.namespaces)
                        .map_err(|e| format!("rule {n}: {e}"))?,
                    names: globs("names", &r.names).map_err(|e| format!("rule {n}: {e}"))?,
                    selector: r
                        .selector
                        .as_deref()
                        .map(Selector::parse)
                        .transpose()
                        .map_err(|e| format!("rule {n}: {e}"))?,
                    patch: r.patch,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Transforms { rules })
    }

    /// Applies every rule that matches the object, in order; each rule's patch applies whole or not
    /// at all. An error names the rule that failed and why.
    pub fn apply(&self, resource: &str, object: &mut Value) -> Result<(), String> {
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.matches(resource, object) {
                continue;
            }
            let mut patched = object.clone();
            json_patch::patch(&mut patched, &rule.patch)
                .map_err(|e| format!("--transform rule {}: {e}", i + 1))?;
            *object = patched;
        }
        Ok(())
    }
}

impl Rule {
    fn matches(&self, resource: &str, object: &Value) -> bool {
        let meta = |field: &str| {
            object
                .pointer(&format!("/metadata/{field}"))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        self.resources.is_match(resource)
            && self
                .namespaces
                .as_ref()
                .is_none_or(|g| g.is_match(meta("namespace")))
            && self.names.as_ref().is_none_or(|g| g.is_match(meta("name")))
            && self
                .selector
                .as_ref()
                .is_none_or(|s| s.matches(&labels_of(object)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: &str = r#"
rules:
  - resources: [deployments.apps]
    namespaces: ["shop*"]
    names: [web]
    patch:
      - {op: replace, path: /spec/replicas, value: 1}
      - {op: add, path: /metadata/labels/restored, value: "yes"}
  - resources: ["*"]
    selector: tier=cache
    patch:
      - {op: test, path: /kind, value: ConfigMap}
      - {op: remove, path: /data/secret}
"#;

    #[test]
    fn rules_patch_the_objects_they_match_only() {
        let t = Transforms::parse(RULES.as_bytes()).unwrap();
        let mut web = json!({"kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop2", "labels": {"app": "web"}},
            "spec": {"replicas": 3}});
        t.apply("deployments.apps", &mut web).unwrap();
        assert_eq!(web["spec"]["replicas"], 1);
        assert_eq!(web["metadata"]["labels"]["restored"], "yes");
        let mut api = json!({"kind": "Deployment",
            "metadata": {"name": "api", "namespace": "shop2"}, "spec": {"replicas": 3}});
        let before = api.clone();
        t.apply("deployments.apps", &mut api).unwrap();
        assert_eq!(api, before, "another name");
    }

    #[test]
    fn a_failing_patch_leaves_the_object_whole_and_names_its_rule() {
        let t = Transforms::parse(RULES.as_bytes()).unwrap();
        let mut secret = json!({"kind": "Secret",
            "metadata": {"name": "s", "labels": {"tier": "cache"}}, "data": {"secret": "x"}});
        let before = secret.clone();
        let err = t.apply("secrets", &mut secret).unwrap_err();
        assert!(err.starts_with("--transform rule 2:"), "{err}");
        assert_eq!(secret, before);
    }

    #[test]
    fn malformed_files_are_refused_with_where_and_why() {
        for (text, want) in [
            (
                "rules: [{resources: [a], patch: [{op: jump, path: /x}]}]",
                "line",
            ),
            ("rules: [{resources: [], patch: []}]", "rule 1"),
            (
                "rules: [{resources: ['[x'], patch: []}]",
                "rule 1: resources",
            ),
            (
                "rules: [{resources: [a], patch: [], names: [a], bogus: 1}]",
                "bogus",
            ),
            (
                "rules: [{resources: [a], selector: 'a in', patch: []}]",
                "rule 1",
            ),
        ] {
            let err = Transforms::parse(text.as_bytes()).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
