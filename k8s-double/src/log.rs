//! The log of requests the server received.

/// One request, as received (before authentication, so rejected requests are logged too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// HTTP method (`GET`, `POST`, ...).
    pub method: String,
    /// URL path, e.g. `/api/v1/namespaces/shop/configmaps`.
    pub path: String,
    /// Decoded query parameters in order, repeated ones kept.
    pub query: Vec<(String, String)>,
    /// The `Accept` header, if any.
    pub accept: Option<String>,
    /// The HTTP status code of the answer (101 for an exec upgraded to a WebSocket).
    pub status: u16,
}

impl LoggedRequest {
    /// The first value of query parameter `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}
