//! `get` and `list`, with selectors, paging and resourceVersion semantics.
//!
//! The resourceVersion rules are those of a v1.24 server:
//!
//! | resourceVersion | resourceVersionMatch | limit | served at |
//! | --- | --- | --- | --- |
//! | unset | | any | the current resourceVersion |
//! | `0` | unset or `NotOlderThan` | ignored (the watch cache serves it) | the current resourceVersion |
//! | N | `Exact`, or unset with a limit | any | N (410 Expired once compacted) |
//! | N | `NotOlderThan`, or unset without a limit | none | the current one, if ≥ N |
//!
//! A `continue` token carries the resourceVersion of the first page, so every page is served at it.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::catalog::ResourceInfo;
use crate::continue_token::ContinueToken;
use crate::negotiate::Representation;
use crate::query::Query;
use crate::route::Target;
use crate::selector::{FieldSelector, LabelSelector};
use crate::state::{AggregatedRv, State};
use crate::status::ApiError;
use crate::store::{object_key, ReadError};

const LIST_TOO_OLD: &str = "The resourceVersion for the provided list is too old.";
const CONTINUE_TOO_OLD: &str = "The provided continue parameter is too old to display a \
    consistent list result. You can start a new list without the continue parameter, or use the \
    continue token in this response to retrieve the remainder of the results. Continuing with the \
    provided token results in an inconsistent list - objects that were created, modified, or \
    deleted between the time the first chunk was returned and now may show up in the list.";

/// `GET` of one object.
pub(crate) fn get(
    state: &State,
    target: &Target,
    name: &str,
    representation: Representation,
) -> Result<Value, ApiError> {
    let key = object_key(target.namespace.as_deref(), name);
    let store = state.store();
    let object = store
        .get(&state.collection(&target.info), &key)
        .ok_or_else(|| ApiError::not_found(&target.info, name))?;
    Ok(match representation {
        Representation::Full => (*object).clone(),
        Representation::Metadata => partial_metadata(&object),
    })
}

/// Where and how much to read.
struct ReadPlan {
    rv: u64,
    start_after: Option<String>,
    limit: Option<usize>,
}

/// `GET` of a collection.
pub(crate) fn list(
    state: &State,
    target: &Target,
    query: &Query,
    representation: Representation,
) -> Result<Value, ApiError> {
    let info = &target.info;
    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or_default(), info)
        .map_err(ApiError::bad_request)?;
    validate_list_options(query)?;

    let store = state.store();
    let plan = match state.settings.aggregated.get(&info.group) {
        Some(AggregatedRv::Ignore) => ReadPlan {
            rv: store.current(),
            start_after: None,
            limit: None,
        },
        Some(AggregatedRv::Reject) if query.get("resourceVersionMatch").is_some() => {
            return Err(ApiError::bad_request(format!(
                "resourceVersionMatch is not supported by the {} API server",
                info.group
            )))
        }
        _ => plan_read(state, &store, query)?,
    };
    let prefix = match &target.namespace {
        Some(ns) => format!("{ns}/"),
        None => String::new(),
    };
    let keep = |object: &Value| labels.matches(object) && fields.matches(object);
    let page = store.list(
        &state.collection(info),
        &prefix,
        plan.rv,
        plan.start_after.as_deref(),
        plan.limit,
        &keep,
    );
    drop(store);

    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), json!(plan.rv.to_string()));
    if let Some(next) = &page.next_key {
        metadata.insert(
            "continue".into(),
            json!(ContinueToken::encode(plan.rv as i64, next)),
        );
        if labels.is_empty() && fields.is_empty() {
            metadata.insert("remainingItemCount".into(), json!(page.remaining));
        }
    } else if info.custom {
        metadata.insert("continue".into(), json!(""));
    }
    let (kind, api_version, items): (String, String, Vec<Value>) = match representation {
        Representation::Full => (
            format!("{}List", info.kind),
            info.api_version(),
            page.items.iter().map(|o| list_item(info, o)).collect(),
        ),
        Representation::Metadata => (
            "PartialObjectMetadataList".into(),
            "meta.k8s.io/v1".into(),
            page.items.iter().map(|o| partial_metadata(o)).collect(),
        ),
    };
    Ok(json!({
        "kind": kind,
        "apiVersion": api_version,
        "metadata": metadata,
        "items": items,
    }))
}

/// The checks of apimachinery's `ValidateListOptions` (answered with 422 `ListOptions` invalid).
fn validate_list_options(query: &Query) -> Result<(), ApiError> {
    let Some(version_match) = query.get("resourceVersionMatch") else {
        return Ok(());
    };
    let invalid = |cause: &str, detail: String| {
        ApiError::invalid(
            "meta.k8s.io",
            "ListOptions",
            "",
            "resourceVersionMatch",
            cause,
            &detail,
        )
    };
    let forbidden = |why: &str| invalid("FieldValueForbidden", format!("Forbidden: {why}"));
    match version_match {
        "Exact" | "NotOlderThan" => {}
        other => {
            return Err(invalid(
                "FieldValueNotSupported",
                format!(
                    "Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
                ),
            ))
        }
    }
    if query.non_empty("continue").is_some() {
        return Err(forbidden(
            "resourceVersionMatch is forbidden when continue is provided",
        ));
    }
    match query.non_empty("resourceVersion") {
        None => Err(forbidden(
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        )),
        Some("0") if version_match == "Exact" => Err(forbidden(
            "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
        )),
        Some(_) => Ok(()),
    }
}

fn plan_read(
    state: &State,
    store: &crate::store::Store,
    query: &Query,
) -> Result<ReadPlan, ApiError> {
    let limit = match query.non_empty("limit") {
        Some(text) => {
            let limit: i64 = text
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid limit: {text:?}")))?;
            usize::try_from(limit).ok().filter(|l| *l > 0)
        }
        None => None,
    };
    let limit = match (limit, state.settings.page_limit_max) {
        (Some(limit), Some(max)) => Some(limit.min(max)),
        (limit, _) => limit,
    };
    let resource_version = query.non_empty("resourceVersion");
    if let Some(token) = query.non_empty("continue") {
        if resource_version.is_some() {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let token = ContinueToken::decode(token).map_err(ApiError::bad_request)?;
        let rv = if token.rv == -1 {
            store.current()
        } else {
            token.rv as u64
        };
        if rv < store.compacted() {
            let fresh = ContinueToken::encode(-1, &token.start_after);
            return Err(ApiError::continue_expired(CONTINUE_TOO_OLD, fresh));
        }
        return Ok(ReadPlan {
            rv,
            start_after: Some(token.start_after),
            limit,
        });
    }
    let current = ReadPlan {
        rv: store.current(),
        start_after: None,
        limit,
    };
    let Some(text) = resource_version else {
        return Ok(current);
    };
    if text == "0" {
        // Served from the watch cache, which ignores limit.
        return Ok(ReadPlan {
            limit: None,
            ..current
        });
    }
    let rv: u64 = text
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {text:?}")))?;
    let exact = match query.get("resourceVersionMatch") {
        Some("Exact") => true,
        Some(_) => false,
        // Legacy: a resourceVersion with a limit and no match means Exact.
        None => limit.is_some(),
    };
    match store.check_readable(rv) {
        Err(ReadError::TooLarge { current }) => {
            Err(ApiError::too_large_resource_version(rv, current))
        }
        Err(ReadError::Compacted) if exact => Err(ApiError::expired(LIST_TOO_OLD)),
        _ if exact => Ok(ReadPlan {
            rv,
            start_after: None,
            limit,
        }),
        _ => Ok(current),
    }
}

/// A list item as the real server sends it: built-in types without `kind` and `apiVersion`,
/// custom resources with them.
fn list_item(info: &ResourceInfo, object: &Arc<Value>) -> Value {
    let mut item = (**object).clone();
    if !info.custom {
        if let Value::Object(map) = &mut item {
            map.remove("kind");
            map.remove("apiVersion");
        }
    }
    item
}

/// The `PartialObjectMetadata` of an object.
fn partial_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object["metadata"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str) -> Result<(), String> {
        validate_list_options(&Query::parse(Some(query)))
            .map_err(|e| e.body["message"].as_str().unwrap_or_default().to_string())
    }

    #[test]
    fn list_options_are_validated_as_the_real_server_does() {
        assert_eq!(
            check("resourceVersion=5&resourceVersionMatch=Exact"),
            Ok(())
        );
        assert_eq!(
            check("resourceVersion=0&resourceVersionMatch=NotOlderThan"),
            Ok(())
        );
        assert_eq!(check("limit=5"), Ok(()));
        let refused = [
            (
                "resourceVersionMatch=Exact",
                "unless resourceVersion is provided",
            ),
            (
                "resourceVersion=0&resourceVersionMatch=Exact",
                "forbidden for resourceVersion \"0\"",
            ),
            (
                "resourceVersion=5&resourceVersionMatch=Newest",
                "Unsupported value: \"Newest\"",
            ),
            (
                "continue=x&resourceVersion=5&resourceVersionMatch=Exact",
                "when continue is provided",
            ),
        ];
        for (query, why) in refused {
            let message = check(query).unwrap_err();
            assert!(
                message.starts_with("ListOptions.meta.k8s.io \"\" is invalid"),
                "{message}"
            );
            assert!(message.contains(why), "{query}: {message}");
        }
    }
}
