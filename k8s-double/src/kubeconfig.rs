//! A kubeconfig pointing at the double, as kubectl and kube read it.

use serde_json::json;

/// A kubeconfig with one cluster, one user (with the bearer token, if any) and one context, all
/// named `context`, which is the current context. Strings are written as JSON strings, which YAML
/// reads as double-quoted scalars.
pub(crate) fn kubeconfig(server: &str, context: &str, token: Option<&str>) -> String {
    let quoted = |s: &str| json!(s).to_string();
    let user = match token {
        Some(token) => format!("\n    token: {}", quoted(token)),
        None => " {}".to_string(),
    };
    let name = quoted(context);
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: {name}\n  cluster:\n    server: {server}\n\
         users:\n\
         - name: {name}\n  user:{user}\n\
         contexts:\n\
         - name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n\
         current-context: {name}\n",
        server = quoted(server),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_server_user_and_context() {
        let text = kubeconfig("http://127.0.0.1:1234", "double", Some("t\"k"));
        assert!(
            text.contains("    server: \"http://127.0.0.1:1234\"\n"),
            "{text}"
        );
        assert!(text.contains("    token: \"t\\\"k\"\n"), "{text}");
        assert!(text.contains("current-context: \"double\"\n"), "{text}");
        assert!(kubeconfig("http://x", "c", None).contains("  user: {}\n"));
    }
}
