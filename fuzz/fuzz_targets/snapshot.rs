//! `Snapshot::decode` on a snapshot's payload.
#![no_main]

use cairn_repo_format::Snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(snap) = Snapshot::decode(data) {
        // Re-encoding what was accepted must be accepted again. (Not compared for equality: serde_json
        // parses floats without `float_roundtrip`, so a float may move by one ulp.)
        let again =
            Snapshot::decode(&snap.encode()).expect("a decoded snapshot re-encodes validly");
        assert_eq!(
            (again.tree, again.time, again.version),
            (snap.tree, snap.time, snap.version)
        );
    }
});
