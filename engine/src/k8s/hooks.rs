//! Backup hooks: what to run in which container before and after volume data is read, from pod
//! annotations (Velero's `pre.hook.backup.cairn.io/command`, ...) and from named rules (`--rule
//! postgres`). Parsing and planning only; running them is `backup`'s, through `exec`.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::error::K8sError;
use super::object::str_at;

/// When a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Before volume data is read.
    Pre,
    /// After, also when the backup failed.
    Post,
}

impl Phase {
    fn prefix(self) -> &'static str {
        match self {
            Phase::Pre => "pre",
            Phase::Post => "post",
        }
    }
}

/// What a failed hook does to the backup of its pod's volumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum OnError {
    /// The pod's volumes are not read (recorded; the backup is incomplete).
    Fail,
    /// They are read anyway, crash-consistent.
    Continue,
}

/// One hook to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The container.
    pub container: String,
    /// When.
    pub phase: Phase,
    /// Where it came from: `annotation` or `rule:<name>`.
    pub source: String,
    /// The command and arguments.
    pub command: Vec<String>,
    /// The longest it may run.
    pub timeout: Duration,
    /// What a failure does.
    pub on_error: OnError,
    /// A pre hook that holds a lock: it prints [`HOLD_MARKER`] once it holds it and keeps its
    /// session until cairn ends it after reading the volumes, or until it ends by itself.
    pub hold: bool,
}

/// The line a holding pre hook prints once the database is quiesced.
pub const HOLD_MARKER: &str = "cairn-quiesced";

/// The longest a holding rule keeps its lock: its session ends by itself then, also when cairn is
/// gone.
pub const HOLD_LIMIT: Duration = Duration::from_secs(600);

/// The default timeout of a hook.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A built-in rule: a database, found by its container image, is made to write what it holds in
/// memory to its files (a checkpoint or a flush), and where it can, locked against writes while its
/// volume is read. A lock is held by the session of the pre hook, which ends by itself after
/// [`HOLD_LIMIT`] (`{limit}` in the command), so no lock outlives it even if cairn dies.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// The rule's name, as `--rule` takes it.
    pub name: &'static str,
    /// Image names (last path component, before the tag) it applies to, as prefixes.
    pub images: &'static [&'static str],
    /// Shell command run before volume data is read.
    pub pre: &'static str,
    /// Whether `pre` holds a lock in its session (see [`Hook::hold`]).
    pub hold: bool,
    /// Shell command run after, if any.
    pub post: Option<&'static str>,
}

/// The built-in rules (spec/kubernetes.md, "Hooks and application consistency").
pub const RULES: &[Rule] = &[
    Rule {
        name: "postgres",
        images: &["postgres", "postgresql"],
        pre: "psql -v ON_ERROR_STOP=1 -c CHECKPOINT",
        hold: false,
        post: None,
    },
    Rule {
        name: "mysql",
        images: &["mysql", "mariadb"],
        pre: "mysql --unbuffered -N -e \"FLUSH TABLES WITH READ LOCK; SELECT 'cairn-quiesced'; \
              DO SLEEP({limit})\"",
        hold: true,
        post: None,
    },
    Rule {
        name: "mongodb",
        images: &["mongo"],
        pre: "mongosh --quiet --eval \"db.fsyncLock(); print('cairn-quiesced'); \
              sleep({limit} * 1000); db.fsyncUnlock()\"",
        hold: true,
        post: Some("mongosh --quiet --eval 'db.fsyncUnlock()'"),
    },
    Rule {
        name: "cassandra",
        images: &["cassandra"],
        pre: "nodetool flush",
        hold: false,
        post: None,
    },
    Rule {
        name: "redis",
        images: &["redis"],
        pre: "redis-cli SAVE",
        hold: false,
        post: None,
    },
];

/// The rules named, each once; an unknown name is an error that lists the known ones.
pub fn rules(names: &[String]) -> Result<Vec<&'static Rule>, K8sError> {
    let mut out: Vec<&'static Rule> = Vec::new();
    for name in names.iter().flat_map(|n| n.split(',')).map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let rule = RULES.iter().find(|r| r.name == name).ok_or_else(|| {
            let known: Vec<&str> = RULES.iter().map(|r| r.name).collect();
            K8sError::InvalidInput(format!(
                "--rule {name:?}: no such rule; known rules: {}",
                known.join(", ")
            ))
        })?;
        if !out.iter().any(|r| r.name == rule.name) {
            out.push(rule);
        }
    }
    Ok(out)
}

/// Parses a Go duration as Kubernetes writes them: `30s`, `1m30s`, `2h`, `500ms`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(value * unit).ok()?;
    }
    Some(total)
}

/// The annotations of post-restore hooks: `post.hook.restore.cairn.io/command`, ...
pub const RESTORE_HOOK_PREFIX: &str = "post.hook.restore.cairn.io";

/// The post-restore hook of one pod, from its `post.hook.restore.cairn.io/...` annotations, parsed
/// as those of backup hooks; a malformed annotation is returned as an error message.
pub fn restore_hooks(pod: &Value) -> (Vec<Hook>, Vec<String>) {
    annotated(pod, RESTORE_HOOK_PREFIX, Phase::Post).unwrap_or_default()
}

/// The hooks of one pod for one phase: from its annotations, else from the rules that match its
/// containers' images. A malformed annotation is returned as an error message to record, not a
/// hook to run.
pub fn pod_hooks(pod: &Value, phase: Phase, rules: &[&Rule]) -> (Vec<Hook>, Vec<String>) {
    let prefix = format!("{}.hook.backup.cairn.io", phase.prefix());
    if let Some(found) = annotated(pod, &prefix, phase) {
        return found;
    }
    let namespace = string_at(pod, "/metadata/namespace");
    let name = string_at(pod, "/metadata/name");
    let containers: Vec<(String, String)> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| (string_at(c, "/name"), string_at(c, "/image")))
                .collect()
        })
        .unwrap_or_default();
    let mut hooks = Vec::new();
    for (container, image) in &containers {
        for rule in rules.iter().filter(|r| image_matches(image, r.images)) {
            let (script, hold) = match phase {
                Phase::Pre => (Some(rule.pre), rule.hold),
                Phase::Post => (rule.post, false),
            };
            if let Some(script) = script {
                let limit = HOLD_LIMIT.as_secs().to_string();
                let script = script.replace("{limit}", &limit);
                let command = vec!["sh".into(), "-c".into(), script];
                let source = format!("rule:{}", rule.name);
                hooks.push(Hook {
                    namespace: namespace.clone(),
                    pod: name.clone(),
                    container: container.clone(),
                    phase,
                    source,
                    command,
                    timeout: DEFAULT_TIMEOUT,
                    on_error: OnError::Fail,
                    hold,
                });
            }
        }
    }
    (hooks, Vec::new())
}

/// The hook a pod's annotations under `prefix` (`pre.hook.backup.cairn.io`) name, if they name
/// one, with the problems of its annotations.
fn annotated(pod: &Value, prefix: &str, phase: Phase) -> Option<(Vec<Hook>, Vec<String>)> {
    let namespace = string_at(pod, "/metadata/namespace");
    let name = string_at(pod, "/metadata/name");
    let annotation = |key: &str| -> Option<&str> {
        pod.pointer("/metadata/annotations")?
            .get(format!("{prefix}/{key}"))?
            .as_str()
    };
    let text = annotation("command")?;
    let mut problems = Vec::new();
    let command: Vec<String> = match serde_json::from_str::<Vec<String>>(text) {
        Ok(c) if !c.is_empty() => c,
        _ => {
            problems.push(format!(
                "pod {namespace}/{name}: {prefix}/command is not a JSON array of strings"
            ));
            return Some((Vec::new(), problems));
        }
    };
    let container = annotation("container")
        .or_else(|| str_at(pod, "/spec/containers/0/name"))
        .unwrap_or_default()
        .to_string();
    let timeout = match annotation("timeout") {
        None => DEFAULT_TIMEOUT,
        Some(t) => parse_duration(t).unwrap_or_else(|| {
            problems.push(format!(
                "pod {namespace}/{name}: timeout {t:?} is not a duration; using 30s"
            ));
            DEFAULT_TIMEOUT
        }),
    };
    let on_error = match annotation("on-error") {
        Some("Continue") => OnError::Continue,
        Some("Fail") | None => OnError::Fail,
        Some(other) => {
            problems.push(format!(
                "pod {namespace}/{name}: on-error {other:?} is neither Fail nor Continue; \
                 using Fail"
            ));
            OnError::Fail
        }
    };
    let hook = Hook {
        namespace,
        pod: name,
        container,
        phase,
        source: "annotation".into(),
        command,
        timeout,
        on_error,
        hold: false,
    };
    Some((vec![hook], problems))
}

/// True when the image's last path component, before its tag or digest, starts with a name.
fn image_matches(image: &str, names: &[&str]) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    let base = last.split(['@', ':']).next().unwrap_or(last);
    names.iter().any(|n| base.starts_with(n))
}

fn string_at(v: &Value, pointer: &str) -> String {
    str_at(v, pointer).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::fixtures;

    fn pod(name: &str) -> Value {
        fixtures::items("shop", "pods")
            .into_iter()
            .find(|p| p["metadata"]["name"] == name)
            .unwrap()
    }

    #[test]
    fn annotations_of_the_recorded_pods_become_hooks() {
        let (hooks, problems) = pod_hooks(&pod("db-0"), Phase::Pre, &[]);
        assert!(problems.is_empty());
        assert_eq!(hooks.len(), 1);
        let h = &hooks[0];
        assert_eq!(h.container, "postgres");
        assert_eq!(h.command, ["/bin/sh", "-c", "psql -U shop -c CHECKPOINT"]);
        assert_eq!(h.timeout, Duration::from_secs(60));
        assert_eq!(h.on_error, OnError::Fail);
        assert_eq!((h.namespace.as_str(), h.pod.as_str()), ("shop", "db-0"));
        assert!(pod_hooks(&pod("db-0"), Phase::Post, &[]).0.is_empty());
        assert!(pod_hooks(&pod("debug"), Phase::Pre, &[]).0.is_empty());
    }

    #[test]
    fn rules_apply_by_image_unless_annotations_say_otherwise() {
        let postgres = rules(&["postgres".into()]).unwrap();
        let mut p = pod("db-0");
        // With annotations, the annotation wins.
        assert_eq!(
            pod_hooks(&p, Phase::Pre, &postgres).0[0].source,
            "annotation"
        );
        p["metadata"]["annotations"] = serde_json::json!({});
        let (hooks, _) = pod_hooks(&p, Phase::Pre, &postgres);
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0].source, "rule:postgres");
        assert_eq!(hooks[0].container, "postgres");
        let mysql = rules(&["mysql".into()]).unwrap();
        let mut m = p.clone();
        m["spec"]["containers"][0]["image"] = "mariadb:11".into();
        let (hooks, _) = pod_hooks(&m, Phase::Pre, &mysql);
        assert!(hooks[0].hold);
        assert!(
            hooks[0].command[2].contains("DO SLEEP(600)"),
            "{:?}",
            hooks[0].command
        );
        assert!(hooks[0].command[2].contains(HOLD_MARKER));
        let mongo = rules(&["mongodb,redis".into(), "redis".into()]).unwrap();
        assert_eq!(mongo.len(), 2);
        assert!(pod_hooks(&p, Phase::Pre, &mongo).0.is_empty());
        assert!(rules(&["oracle".into()])
            .unwrap_err()
            .to_string()
            .contains("postgres, mysql"));
        assert!(image_matches(
            "docker.io/bitnami/postgresql:15@sha256:ab",
            &["postgres"]
        ));
        assert!(!image_matches("registry:5000/app:postgres", &["postgres"]));
    }

    #[test]
    fn bad_annotations_are_reported_not_run() {
        let mut p = pod("db-0");
        p["metadata"]["annotations"]["pre.hook.backup.cairn.io/command"] = "psql".into();
        let (hooks, problems) = pod_hooks(&p, Phase::Pre, &[]);
        assert!(hooks.is_empty());
        assert!(problems[0].contains("not a JSON array"), "{problems:?}");
        let mut p = pod("db-0");
        p["metadata"]["annotations"]["pre.hook.backup.cairn.io/timeout"] = "soon".into();
        p["metadata"]["annotations"]["pre.hook.backup.cairn.io/on-error"] = "Continue".into();
        let (hooks, problems) = pod_hooks(&p, Phase::Pre, &[]);
        assert_eq!(hooks[0].timeout, DEFAULT_TIMEOUT);
        assert_eq!(hooks[0].on_error, OnError::Continue);
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        for bad in ["", "s", "10", "5d", "-1s", "1e400s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
