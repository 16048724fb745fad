//! The tar stream a pod sends for a volume (`cairn k8s backup --volume-method exec`), unpacked into
//! an in-memory tree whose file content goes to an in-memory repository.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cairn_engine::fuzzing::tar_stream(data);
});
