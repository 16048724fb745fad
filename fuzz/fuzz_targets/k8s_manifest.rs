//! A Kubernetes manifest (YAML) read back from a snapshot by `cairn k8s restore`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cairn_engine::fuzzing::manifest(data);
});
