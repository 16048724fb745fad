//! `continue` tokens for paged lists, in the real server's format.
//!
//! A token is unpadded base64url of `{"v":"meta.k8s.io/v1","rv":N,"start":"<key>\u0000"}`: the
//! resourceVersion the first page was read at, and the key after which the next page starts. An
//! `rv` of -1 means "continue at the current resourceVersion" (the token the server hands out
//! with a 410 when the original resourceVersion has been compacted).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

/// A decoded continue token.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ContinueToken {
    /// The resourceVersion to read at; -1 for the current one.
    pub rv: i64,
    /// The key after which to start.
    pub start_after: String,
}

impl ContinueToken {
    /// Encodes a token continuing after `last_key` at `rv`.
    pub fn encode(rv: i64, last_key: &str) -> String {
        let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{last_key}\u{0}")});
        URL_SAFE_NO_PAD.encode(token.to_string())
    }

    /// Decodes a token, with the real server's wording when it is not one.
    pub fn decode(token: &str) -> Result<Self, String> {
        let invalid = |why: &str| format!("continue key is not valid: {why}");
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| invalid("illegal base64 data"))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid("not JSON"))?;
        if value["v"] != "meta.k8s.io/v1" {
            return Err(invalid("server does not recognize this encoded key"));
        }
        let rv = value["rv"]
            .as_i64()
            .filter(|rv| *rv == -1 || *rv > 0)
            .ok_or_else(|| {
                invalid("incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
            })?;
        let start = value["start"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("encoded start key empty"))?;
        Ok(ContinueToken {
            rv,
            start_after: start.strip_suffix('\u{0}').unwrap_or(start).to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_rejected() {
        let token = ContinueToken::encode(42, "shop/web");
        let decoded = ContinueToken::decode(&token).unwrap();
        assert_eq!(
            decoded,
            ContinueToken {
                rv: 42,
                start_after: "shop/web".into()
            }
        );
        assert!(ContinueToken::decode("not a token!").is_err());
        assert!(ContinueToken::decode(&URL_SAFE_NO_PAD.encode("{}")).is_err());
    }
}
