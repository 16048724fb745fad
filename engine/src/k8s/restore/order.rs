//! The order of a restore: what an object needs is created before it (spec/kubernetes.md,
//! "Restore"). Objects of one rank are created by namespace, then name.

use std::cmp::Ordering;

use crate::k8s::discovery::is_builtin_group;

/// The resources with a rank of their own, in the order they are created.
pub const RANKED: &[&str] = &[
    "customresourcedefinitions.apiextensions.k8s.io",
    "namespaces",
    "storageclasses.storage.k8s.io",
    "persistentvolumes",
    "persistentvolumeclaims",
    "serviceaccounts",
    "clusterroles.rbac.authorization.k8s.io",
    "roles.rbac.authorization.k8s.io",
    "clusterrolebindings.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
    "secrets",
    "configmaps",
    "services",
    "mutatingwebhookconfigurations.admissionregistration.k8s.io",
    "validatingwebhookconfigurations.admissionregistration.k8s.io",
    "deployments.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "replicasets.apps",
    "jobs.batch",
    "cronjobs.batch",
    "pods",
];

/// The rank of the other built-in resources; custom resources come one after it.
pub const OTHERS: usize = RANKED.len();

/// The rank of a resource (`<plural>.<group>`, or the plural of a core resource).
pub fn rank(resource: &str) -> usize {
    if let Some(i) = RANKED.iter().position(|r| *r == resource) {
        return i;
    }
    let group = resource.split_once('.').map_or("", |(_, g)| g);
    if is_builtin_group(group) {
        OTHERS
    } else {
        OTHERS + 1
    }
}

/// Compares two objects for the restore's order: by rank, resource, namespace (cluster-scoped
/// first), then name.
pub fn compare(a: (&str, Option<&str>, &str), b: (&str, Option<&str>, &str)) -> Ordering {
    (rank(a.0), a.0, a.1, a.2).cmp(&(rank(b.0), b.0, b.1, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_an_object_needs_comes_first() {
        let mut all = vec![
            ("widgets.example.com", Some("shop"), "w"),
            ("ingresses.networking.k8s.io", Some("shop"), "i"),
            ("pods", Some("shop"), "p"),
            ("deployments.apps", Some("shop"), "d"),
            (
                "validatingwebhookconfigurations.admissionregistration.k8s.io",
                None,
                "v",
            ),
            ("services", Some("shop"), "s"),
            ("configmaps", Some("shop"), "c"),
            ("secrets", Some("shop"), "s"),
            ("rolebindings.rbac.authorization.k8s.io", Some("shop"), "rb"),
            ("clusterroles.rbac.authorization.k8s.io", None, "cr"),
            ("serviceaccounts", Some("shop"), "sa"),
            ("persistentvolumeclaims", Some("shop"), "pvc"),
            ("persistentvolumes", None, "pv"),
            ("storageclasses.storage.k8s.io", None, "sc"),
            ("namespaces", None, "shop"),
            (
                "customresourcedefinitions.apiextensions.k8s.io",
                None,
                "crd",
            ),
        ];
        let expected: Vec<_> = all.iter().rev().cloned().collect();
        all.sort_by(|a, b| compare(*a, *b));
        assert_eq!(all, expected);
    }

    #[test]
    fn within_a_rank_by_namespace_then_name() {
        let mut all = vec![
            ("configmaps", Some("b"), "a"),
            ("configmaps", Some("a"), "z"),
            ("configmaps", Some("a"), "b"),
        ];
        all.sort_by(|a, b| compare(*a, *b));
        assert_eq!(
            all,
            vec![
                ("configmaps", Some("a"), "b"),
                ("configmaps", Some("a"), "z"),
                ("configmaps", Some("b"), "a"),
            ]
        );
        assert_eq!(rank("horizontalpodautoscalers.autoscaling"), OTHERS);
        assert_eq!(rank("widgets.example.com"), OTHERS + 1);
    }
}
