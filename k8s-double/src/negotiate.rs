//! Content negotiation on the `Accept` header.
//!
//! The double serves JSON only: either the full objects or, when asked for with
//! `as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1`, their metadata. Aggregated discovery
//! (`as=APIGroupDiscoveryList;g=apidiscovery.k8s.io`) did not exist in v1.24, so, like that server,
//! the double skips such a media type and uses the next acceptable one, or answers 406.

use crate::status::ApiError;

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Representation {
    /// The objects as stored.
    Full,
    /// `PartialObjectMetadata` / `PartialObjectMetadataList`.
    Metadata,
}

/// Picks the first media type in `accept` the double can serve. `metadata_allowed` is false where
/// metadata-only answers make no sense (discovery, `/version`).
pub(crate) fn negotiate(
    accept: Option<&str>,
    metadata_allowed: bool,
) -> Result<Representation, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Representation::Full);
    };
    for clause in accept.split(',') {
        let mut parts = clause.split(';').map(str::trim);
        let media_type = parts.next().unwrap_or_default().to_ascii_lowercase();
        if !matches!(
            media_type.as_str(),
            "application/json" | "application/*" | "*/*"
        ) {
            continue;
        }
        let (mut as_kind, mut group, mut version) = (None, None, None);
        for param in parts {
            match param.split_once('=') {
                Some(("as", value)) => as_kind = Some(value),
                Some(("g", value)) => group = Some(value),
                Some(("v", value)) => version = Some(value),
                _ => {}
            }
        }
        match as_kind {
            None => return Ok(Representation::Full),
            Some("PartialObjectMetadata" | "PartialObjectMetadataList")
                if metadata_allowed
                    && group == Some("meta.k8s.io")
                    && matches!(version, Some("v1" | "v1beta1")) =>
            {
                return Ok(Representation::Metadata)
            }
            Some(_) => continue,
        }
    }
    Err(ApiError::not_acceptable())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_discovery_falls_back_to_plain_json_or_406() {
        let kube = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
                    application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,\
                    application/json";
        assert_eq!(negotiate(Some(kube), false).unwrap(), Representation::Full);
        let only_aggregated =
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
        assert_eq!(
            negotiate(Some(only_aggregated), false).unwrap_err().code,
            406
        );
    }

    #[test]
    fn metadata_only_is_served_where_allowed() {
        let accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
        assert_eq!(
            negotiate(Some(accept), true).unwrap(),
            Representation::Metadata
        );
        assert_eq!(negotiate(Some(accept), false).unwrap_err().code, 406);
        assert_eq!(negotiate(None, true).unwrap(), Representation::Full);
        assert_eq!(
            negotiate(Some("application/yaml"), true).unwrap_err().code,
            406
        );
    }
}
