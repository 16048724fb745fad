//! The CustomResourceDefinition controller: a new CRD gets the conditions `NamesAccepted` and
//! `Established` (at once, after a delay, or never), and once established its resource is served
//! in discovery and at its URLs, also when the recording did not have it.
//!
//! Left out: name conflicts (names are always accepted), schema validation of custom resources,
//! conversion between versions, and removing the API when the CRD is deleted.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{condition, get, is, later, put, Controller, Write};
use crate::catalog::CustomResource;
use crate::meta::set;
use crate::state::State;

/// When a new CustomResourceDefinition becomes `Established`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Establish {
    /// As soon as it is created.
    Now,
    /// This long after it is created; `Established` is `False` until then.
    After(Duration),
    /// Never: `NamesAccepted` is `True`, `Established` stays `False`.
    Never,
}

/// Establishes new CRDs as [`Establish`] says.
pub(crate) struct Crds(pub Establish);

impl Controller for Crds {
    fn after_write(&self, state: &Arc<State>, write: &Write<'_>) {
        let Some((info, object)) = write.stored() else {
            return;
        };
        if !is(info, "apiextensions.k8s.io", "customresourcedefinitions") || established(object) {
            return;
        }
        let Some(name) = object["metadata"]["name"].as_str().map(str::to_string) else {
            return;
        };
        if object["status"]["conditions"].is_null() {
            set_conditions(state, &name, false);
        }
        let delay = match self.0 {
            Establish::Now => Duration::ZERO,
            Establish::After(delay) => delay,
            Establish::Never => return,
        };
        let state = state.clone();
        later(delay, move || set_conditions(&state, &name, true));
    }
}

/// Whether a CRD has the condition `Established` `True`.
fn established(crd: &Value) -> bool {
    crd["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Established" && c["status"] == "True")
}

/// Writes the CRD's status (names accepted; established or installing) and, when established,
/// serves its versions.
fn set_conditions(state: &State, name: &str, is_established: bool) {
    const CRDS: &str = "customresourcedefinitions.apiextensions.k8s.io";
    let Some(mut crd) = get(state, CRDS, None, name) else {
        return;
    };
    let established_condition = if is_established {
        condition(
            "Established",
            true,
            "InitialNamesAccepted",
            "the initial names have been accepted",
        )
    } else {
        condition(
            "Established",
            false,
            "Installing",
            "the resource is not served yet",
        )
    };
    let stored: Vec<Value> = versions(&crd)
        .filter(|v| v["storage"] == true)
        .map(|v| v["name"].clone())
        .collect();
    let status = json!({
        "acceptedNames": crd["spec"]["names"].clone(),
        "conditions": [
            condition("NamesAccepted", true, "NoConflicts", "no conflicts found"),
            established_condition,
        ],
        "storedVersions": stored,
    });
    set(&mut crd, &["status"], status);
    if put(state, CRDS, crd.clone()).is_none() || !is_established {
        return;
    }
    let spec = &crd["spec"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let (group, plural, kind) = (
        text(&spec["group"]),
        text(&spec["names"]["plural"]),
        text(&spec["names"]["kind"]),
    );
    let singular = spec["names"]["singular"]
        .as_str()
        .map_or_else(|| kind.to_lowercase(), str::to_string);
    for version in versions(&crd).filter(|v| v["served"] == true) {
        let Some(version) = version["name"].as_str() else {
            continue;
        };
        state.catalog.add_custom(&CustomResource {
            group: &group,
            version,
            plural: &plural,
            singular: &singular,
            kind: &kind,
            namespaced: spec["scope"] == "Namespaced",
        });
    }
}

fn versions(crd: &Value) -> impl Iterator<Item = &Value> {
    crd["spec"]["versions"].as_array().into_iter().flatten()
}
