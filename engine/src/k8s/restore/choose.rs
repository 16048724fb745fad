//! Choosing what to restore: namespaces, a label selector, resources, and objects or directories
//! named by their path in the snapshot.

use super::Manifest;
use crate::k8s::error::K8sError;
use crate::k8s::labels::{labels_of, Selector};
use globset::{Glob, GlobSet, GlobSetBuilder};

/// What a restore is asked to take.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ChoiceOptions {
    /// Namespaces (globs); empty: all of the snapshot's.
    pub namespaces: Vec<String>,
    /// A label selector.
    pub selector: Option<String>,
    /// Only these resources (`resource.group`, globs); empty: all.
    pub include_resources: Vec<String>,
    /// Not these resources.
    pub exclude_resources: Vec<String>,
    /// Only manifests at or below these paths of the snapshot (`manifests/namespaces/shop`).
    pub paths: Vec<String>,
}

/// The compiled [`ChoiceOptions`].
#[derive(Debug)]
pub struct Choice {
    namespaces: Option<GlobSet>,
    selector: Option<Selector>,
    include_resources: Option<GlobSet>,
    exclude_resources: GlobSet,
    paths: Vec<Vec<String>>,
}

fn globs(what: &str, patterns: &[String]) -> Result<Option<GlobSet>, K8sError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| K8sError::InvalidInput(format!("{what} {p:?}: {e}")))?);
    }
    b.build()
        .map(Some)
        .map_err(|e| K8sError::InvalidInput(format!("{what}: {e}")))
}

/// A path's components, without empty ones (a leading or doubled `/`).
pub fn components(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

impl Choice {
    /// Checks and compiles the options.
    pub fn new(options: &ChoiceOptions) -> Result<Choice, K8sError> {
        let paths = options.paths.iter().map(|p| components(p)).collect();
        Ok(Choice {
            namespaces: globs("--namespace", &options.namespaces)?,
            selector: options
                .selector
                .as_deref()
                .map(Selector::parse)
                .transpose()?,
            include_resources: globs("--include-resources", &options.include_resources)?,
            exclude_resources: globs("--exclude-resources", &options.exclude_resources)?
                .unwrap_or_else(GlobSet::empty),
            paths,
        })
    }

    /// True when the manifest is to be restored. A namespaced object is taken when its namespace
    /// matches; a Namespace when its name does; other cluster-scoped objects always (a backup holds
    /// those its application needs). The label selector does not apply to Namespaces.
    pub fn wants(&self, m: &Manifest) -> bool {
        let in_namespace = |ns: &str| self.namespaces.as_ref().is_none_or(|g| g.is_match(ns));
        let namespace_ok = match (&m.namespace, m.resource.as_str()) {
            (Some(ns), _) => in_namespace(ns),
            (None, "namespaces") => in_namespace(&m.name),
            (None, _) => true,
        };
        let labels_ok = m.resource == "namespaces"
            || self
                .selector
                .as_ref()
                .is_none_or(|s| s.matches(&labels_of(&m.object)));
        let resource_ok = self
            .include_resources
            .as_ref()
            .is_none_or(|g| g.is_match(&m.resource))
            && !self.exclude_resources.is_match(&m.resource);
        let path = components(&m.path);
        let path_ok =
            self.paths.is_empty() || self.paths.iter().any(|p| path.starts_with(p.as_slice()));
        namespace_ok && labels_ok && resource_ok && path_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(
        path: &str,
        resource: &str,
        ns: Option<&str>,
        name: &str,
        labels: serde_json::Value,
    ) -> Manifest {
        Manifest {
            path: path.into(),
            resource: resource.into(),
            namespace: ns.map(String::from),
            name: name.into(),
            object: json!({"metadata": {"name": name, "labels": labels}}),
        }
    }

    #[test]
    fn namespaces_selector_resources_and_paths_narrow_the_restore() {
        let web = m(
            "manifests/namespaces/shop/deployments.apps/web.yaml",
            "deployments.apps",
            Some("shop"),
            "web",
            json!({"tier": "web"}),
        );
        let db = m(
            "manifests/namespaces/shop/statefulsets.apps/db.yaml",
            "statefulsets.apps",
            Some("shop"),
            "db",
            json!({"tier": "db"}),
        );
        let blog = m(
            "manifests/namespaces/blog/deployments.apps/wp.yaml",
            "deployments.apps",
            Some("blog"),
            "wp",
            json!({}),
        );
        let ns = m(
            "manifests/cluster/namespaces/shop.yaml",
            "namespaces",
            None,
            "shop",
            json!({}),
        );
        let pv = m(
            "manifests/cluster/persistentvolumes/pv.yaml",
            "persistentvolumes",
            None,
            "pv",
            json!({}),
        );
        let all = [&web, &db, &blog, &ns, &pv];
        let taken = |o: ChoiceOptions| -> Vec<String> {
            let c = Choice::new(&o).unwrap();
            all.iter()
                .filter(|x| c.wants(x))
                .map(|x| x.name.clone())
                .collect()
        };
        assert_eq!(taken(ChoiceOptions::default()).len(), 5);
        let mut o = ChoiceOptions {
            namespaces: vec!["sh*".into()],
            ..Default::default()
        };
        assert_eq!(taken(o.clone()), ["web", "db", "shop", "pv"]);
        o.selector = Some("tier=db".into());
        assert_eq!(taken(o.clone()), ["db", "shop"]);
        let o = ChoiceOptions {
            include_resources: vec!["*.apps".into()],
            exclude_resources: vec!["statefulsets.apps".into()],
            ..Default::default()
        };
        assert_eq!(taken(o), ["web", "wp"]);
        let o = ChoiceOptions {
            paths: vec![
                "/manifests/namespaces/shop/deployments.apps/web.yaml".into(),
                "manifests/cluster/".into(),
            ],
            ..Default::default()
        };
        assert_eq!(taken(o), ["web", "shop", "pv"]);
        let o = ChoiceOptions {
            selector: Some("in (".into()),
            ..Default::default()
        };
        assert!(Choice::new(&o).is_err());
    }
}
