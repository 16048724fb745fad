//! Fields the server fills in itself: uids, timestamps, generated names.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 bits that differ on every call and between processes.
fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

/// A random (version 4) UUID, as the server gives each new object.
pub(crate) fn new_uid() -> String {
    let high = random_u64();
    let low = random_u64();
    let hex = format!("{high:016x}{low:016x}");
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        (low >> 60) as u8 & 0x3 | 0x8,
        &hex[17..20],
        &hex[20..32]
    )
}

/// `generateName` plus five characters from the alphabet the server uses.
pub(crate) fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bits = random_u64();
    let mut name = prefix.to_string();
    for _ in 0..5 {
        name.push(char::from(
            ALPHABET[(bits % ALPHABET.len() as u64) as usize],
        ));
        bits /= ALPHABET.len() as u64;
    }
    name
}

/// The current time as RFC 3339 in UTC with whole seconds (`2022-05-05T10:00:00Z`), as object
/// timestamps are written.
pub(crate) fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    rfc3339(secs)
}

fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `value` as a JSON object, replacing whatever else it was with an empty one.
pub(crate) fn object_mut(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("the value was just made an object"),
    }
}

/// Sets the field at `path` (`["metadata", "labels", "app"]`), turning anything on the way that is
/// not an object into one: objects from clients may hold anything anywhere.
pub(crate) fn set(target: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *target = value;
        return;
    };
    let mut map = object_mut(target);
    for parent in parents {
        map = object_mut(map.entry(*parent).or_insert(Value::Null));
    }
    map.insert((*last).to_string(), value);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_651_744_800), "2022-05-05T10:00:00Z");
        assert_eq!(rfc3339(951_825_600), "2000-02-29T12:00:00Z");
    }

    #[test]
    fn uids_are_v4_uuids_and_differ() {
        let (a, b) = (new_uid(), new_uid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn set_makes_room_for_the_field() {
        let mut object = json!({"metadata": {"labels": "not a map"}, "status": 3});
        set(&mut object, &["metadata", "labels", "a"], json!("b"));
        set(&mut object, &["status", "phase"], json!("Active"));
        assert_eq!(
            object,
            json!({"metadata": {"labels": {"a": "b"}}, "status": {"phase": "Active"}})
        );
    }

    #[test]
    fn generated_names_extend_the_prefix() {
        let name = generate_name("job-");
        assert_eq!(name.len(), 9);
        assert!(name.starts_with("job-"));
    }
}
