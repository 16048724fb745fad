//! The selection of a backup as the user gave it ([`SelectionOptions`]) and compiled into matchers
//! ([`Selection`]): which namespaces, which resources, which labels (spec/kubernetes.md).

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;
use serde_json::Value;

use super::discovery::ResourceType;
use super::error::K8sError;
use super::labels::{labels_of, Selector};

/// The label that keeps an object out of every backup.
pub const EXCLUDE_LABEL: &str = "backup.cairn.io/exclude";

/// Resources never listed, and why: they are derived and recreated by the cluster.
pub const NEVER_LISTED: &[(&str, &str)] = &[
    (
        "events",
        "events are recorded by the cluster, not part of an application",
    ),
    (
        "events.events.k8s.io",
        "events are recorded by the cluster, not part of an application",
    ),
    (
        "leases.coordination.k8s.io",
        "leases are held by running controllers and recreated by them",
    ),
];

/// Whether cluster-scoped objects are stored (`--include-cluster-resources`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterResources {
    /// All of them for a backup of all namespaces without selector, else those the application needs.
    #[default]
    Auto,
    /// All of them (that pass the selector).
    True,
    /// None, but the selected namespaces' Namespace objects.
    False,
}

impl std::str::FromStr for ClusterResources {
    type Err = K8sError;

    fn from_str(s: &str) -> Result<Self, K8sError> {
        match s {
            "auto" => Ok(ClusterResources::Auto),
            "true" => Ok(ClusterResources::True),
            "false" => Ok(ClusterResources::False),
            _ => Err(K8sError::InvalidInput(format!(
                "--include-cluster-resources {s:?}: use auto, true or false"
            ))),
        }
    }
}

/// What to back up, as given.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct SelectionOptions {
    /// Namespace globs (`--namespace`); `["*"]` for all namespaces.
    pub namespaces: Vec<String>,
    /// Namespace globs to leave out.
    pub exclude_namespaces: Vec<String>,
    /// The label selector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Alternative selectors: an object matching any is taken.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub or_selectors: Vec<String>,
    /// Only these resources (`resource.group` globs); empty for all.
    pub include_resources: Vec<String>,
    /// Not these resources.
    pub exclude_resources: Vec<String>,
    /// Cluster-scoped objects.
    pub include_cluster_resources: ClusterResources,
}

impl SelectionOptions {
    /// The selector as recorded in a snapshot: `--selector`, or the `--or-selector`s joined by ` or `.
    pub fn selector_text(&self) -> Option<String> {
        match (&self.selector, self.or_selectors.is_empty()) {
            (Some(s), _) => Some(s.clone()),
            (None, false) => Some(self.or_selectors.join(" or ")),
            (None, true) => None,
        }
    }
}

/// A compiled selection.
#[derive(Debug)]
pub struct Selection {
    options: SelectionOptions,
    namespaces: GlobSet,
    exclude_namespaces: GlobSet,
    selectors: Vec<Selector>,
    include_resources: Option<GlobSet>,
    exclude_resources: GlobSet,
}

fn globs(what: &str, patterns: &[String]) -> Result<GlobSet, K8sError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = Glob::new(p).map_err(|e| K8sError::InvalidInput(format!("{what} {p:?}: {e}")))?;
        b.add(g);
    }
    b.build()
        .map_err(|e| K8sError::InvalidInput(format!("{what}: {e}")))
}

impl Selection {
    /// Checks and compiles the options.
    pub fn new(options: SelectionOptions) -> Result<Selection, K8sError> {
        if options.namespaces.is_empty() {
            return Err(K8sError::InvalidInput(
                "say which namespaces to back up: --namespace NAME (globs allowed) or \
                 --all-namespaces"
                    .into(),
            ));
        }
        if options.selector.is_some() && !options.or_selectors.is_empty() {
            return Err(K8sError::InvalidInput(
                "--selector and --or-selector cannot be combined: give each alternative as \
                 --or-selector"
                    .into(),
            ));
        }
        let selectors = options
            .selector
            .iter()
            .chain(&options.or_selectors)
            .map(|s| Selector::parse(s))
            .collect::<Result<_, _>>()?;
        let include_resources = if options.include_resources.is_empty() {
            None
        } else {
            Some(globs("--include-resources", &options.include_resources)?)
        };
        Ok(Selection {
            namespaces: globs("--namespace", &options.namespaces)?,
            exclude_namespaces: globs("--exclude-namespace", &options.exclude_namespaces)?,
            exclude_resources: globs("--exclude-resources", &options.exclude_resources)?,
            include_resources,
            selectors,
            options,
        })
    }

    /// The options it was compiled from.
    pub fn options(&self) -> &SelectionOptions {
        &self.options
    }

    /// True when the namespace is in the backup.
    pub fn namespace_wanted(&self, name: &str) -> bool {
        self.namespaces.is_match(name) && !self.exclude_namespaces.is_match(name)
    }

    /// True when the resource's objects may be stored (`--include-resources`, `--exclude-resources`).
    pub fn resource_wanted(&self, resource: &ResourceType) -> bool {
        let name = resource.name();
        self.include_resources
            .as_ref()
            .is_none_or(|g| g.is_match(&name))
            && !self.exclude_resources.is_match(&name)
    }

    /// Why a resource is never listed, when it is one of [`NEVER_LISTED`].
    pub fn never_listed(resource: &ResourceType) -> Option<&'static str> {
        let name = resource.name();
        NEVER_LISTED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, why)| *why)
    }

    /// True when the object's labels match the selector (or one of the or-selectors).
    pub fn labels_match(&self, object: &Value) -> bool {
        if self.selectors.is_empty() {
            return true;
        }
        let labels = labels_of(object);
        self.selectors.iter().any(|s| s.matches(&labels))
    }

    /// True when every cluster-scoped object is stored, not only those the application needs.
    pub fn all_cluster_resources(&self) -> bool {
        match self.options.include_cluster_resources {
            ClusterResources::True => true,
            ClusterResources::False => false,
            ClusterResources::Auto => {
                self.selectors.is_empty()
                    && self.options.namespaces.iter().any(|n| n == "*")
                    && self.options.exclude_namespaces.is_empty()
            }
        }
    }

    /// True when no cluster-scoped object but Namespaces is stored.
    pub fn no_cluster_resources(&self) -> bool {
        self.options.include_cluster_resources == ClusterResources::False
    }
}

/// The reason an object is skipped before selection, if any: the exclude label, or being deleted.
pub fn skip_reason(object: &Value) -> Option<&'static str> {
    let excluded = object
        .pointer("/metadata/labels")
        .and_then(|l| l.get(EXCLUDE_LABEL))
        .and_then(Value::as_str)
        == Some("true");
    if excluded {
        return Some("excluded by label backup.cairn.io/exclude=true");
    }
    if object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return Some("being deleted");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(f: impl FnOnce(&mut SelectionOptions)) -> Selection {
        let mut o = SelectionOptions {
            namespaces: vec!["*".into()],
            ..Default::default()
        };
        f(&mut o);
        Selection::new(o).unwrap()
    }

    fn rt(group: &str, plural: &str) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: "v1".into(),
            plural: plural.into(),
            kind: String::new(),
            namespaced: true,
        }
    }

    #[test]
    fn namespaces_by_glob_minus_exclusions() {
        let s = sel(|o| {
            o.namespaces = vec!["sh*".into(), "blog".into()];
            o.exclude_namespaces = vec!["shadow".into()];
        });
        assert!(s.namespace_wanted("shop"));
        assert!(s.namespace_wanted("blog"));
        assert!(!s.namespace_wanted("shadow"));
        assert!(!s.namespace_wanted("kube-system"));
    }

    #[test]
    fn resources_by_full_name_with_globs() {
        let s = sel(|o| {
            o.include_resources = vec!["*.apps".into(), "configmaps".into()];
            o.exclude_resources = vec!["replicasets.apps".into()];
        });
        assert!(s.resource_wanted(&rt("apps", "deployments")));
        assert!(s.resource_wanted(&rt("", "configmaps")));
        assert!(!s.resource_wanted(&rt("apps", "replicasets")));
        assert!(!s.resource_wanted(&rt("", "secrets")));
        assert!(Selection::never_listed(&rt("coordination.k8s.io", "leases")).is_some());
    }

    #[test]
    fn or_selectors_take_either_and_cannot_mix_with_selector() {
        let s = sel(|o| o.or_selectors = vec!["app=shop".into(), "app=wordpress".into()]);
        let obj = |app: &str| serde_json::json!({"metadata": {"labels": {"app": app}}});
        assert!(s.labels_match(&obj("shop")));
        assert!(s.labels_match(&obj("wordpress")));
        assert!(!s.labels_match(&obj("other")));
        assert_eq!(
            s.options().selector_text().as_deref(),
            Some("app=shop or app=wordpress")
        );
        let mut o = SelectionOptions {
            namespaces: vec!["x".into()],
            selector: Some("a=b".into()),
            or_selectors: vec!["c=d".into()],
            ..Default::default()
        };
        assert!(Selection::new(o.clone()).is_err());
        o.namespaces.clear();
        o.or_selectors.clear();
        let e = Selection::new(o).unwrap_err().to_string();
        assert!(e.contains("--all-namespaces"), "{e}");
    }

    #[test]
    fn cluster_resources_auto_means_all_only_for_a_whole_cluster_backup() {
        assert!(sel(|_| {}).all_cluster_resources());
        assert!(!sel(|o| o.selector = Some("app=shop".into())).all_cluster_resources());
        assert!(!sel(|o| o.namespaces = vec!["shop".into()]).all_cluster_resources());
        assert!(sel(|o| {
            o.namespaces = vec!["shop".into()];
            o.include_cluster_resources = ClusterResources::True;
        })
        .all_cluster_resources());
        assert!(
            sel(|o| o.include_cluster_resources = ClusterResources::False).no_cluster_resources()
        );
    }

    #[test]
    fn the_exclude_label_and_deletion_skip_objects() {
        let o = serde_json::json!({"metadata": {"labels": {EXCLUDE_LABEL: "true"}}});
        assert!(skip_reason(&o).unwrap().contains("label"));
        let o = serde_json::json!({"metadata": {"labels": {EXCLUDE_LABEL: "false"}}});
        assert_eq!(skip_reason(&o), None);
        let o = serde_json::json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(skip_reason(&o), Some("being deleted"));
        assert_eq!(skip_reason(&serde_json::json!("not an object")), None);
    }
}
