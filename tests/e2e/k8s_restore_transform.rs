//! `cairn k8s restore --transform`: JSON-patch rules applied to the objects they match, and a rule
//! that cannot apply reported on its object.

use serde_json::Value;

use crate::k8s::cluster;
use crate::util::*;

const RULES: &str = r#"
rules:
  - resources: [deployments.apps]
    names: [web]
    patch:
      - {op: replace, path: /spec/replicas, value: 1}
      - {op: add, path: /metadata/annotations, value: {restored-by: cairn}}
  - resources: [configmaps]
    names: [shop-config]
    patch:
      - {op: remove, path: /data/no-such-key}
"#;

#[test]
fn k8s_restore_transform_patches_matching_objects_and_fails_those_a_rule_cannot_patch() {
    let s = Scratch::new();
    s.init();
    let c = cluster(&s, |b| b);
    c.cairn(&s, &["backup", "-n", "shop", "--volume-method", "none"])
        .ok();
    let rules = s.join("rules.yaml");
    write(&rules, RULES);
    let out = s.join("out");
    let run = s
        .cairn(&[
            "k8s",
            "restore",
            "latest",
            "--to-dir",
            out.to_str().unwrap(),
            "--transform",
            rules.to_str().unwrap(),
            "--json",
        ])
        .code(3);
    let report = run.json();
    let item = |resource: &str, name: &str| -> Value {
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["resource"] == resource && i["name"] == name)
            .unwrap_or_else(|| panic!("no {resource}/{name}"))
            .clone()
    };
    let web = item("deployments.apps", "web");
    assert_eq!(web["action"], "written", "{web}");
    let text = std::fs::read_to_string(out.join(web["file"].as_str().unwrap())).unwrap();
    let object: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(object["spec"]["replicas"], 1);
    assert_eq!(object["metadata"]["annotations"]["restored-by"], "cairn");
    let config = item("configmaps", "shop-config");
    assert_eq!(config["action"], "failed", "{config}");
    assert!(config["reason"]
        .as_str()
        .unwrap()
        .contains("--transform rule 2"));
    // Objects no rule matches are untouched.
    assert_eq!(item("services", "web")["action"], "written");

    // A malformed file stops the restore before anything is written.
    write(
        &rules,
        "rules: [{resources: [a], patch: [{op: jump, path: /x}]}]",
    );
    let run = s
        .cairn(&[
            "k8s",
            "restore",
            "latest",
            "--to-dir",
            s.join("out2").to_str().unwrap(),
            "--transform",
            rules.to_str().unwrap(),
        ])
        .code(1);
    assert!(run.stderr.contains("--transform"), "{}", run.stderr);
    assert!(!s.join("out2").join("15-deployments.apps").exists());
}
