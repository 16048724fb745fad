//! `KeyFile::decode` on untrusted bytes (key files are stored unencrypted, so anyone who can write to
//! the store can plant one), then `unwrap` with a fixed password.
#![no_main]

use cairn_repo_format::KeyFile;
use libfuzzer_sys::fuzz_target;

/// Costs above which a valid-looking key file is not unwrapped: argon2id at the permitted maximum
/// (4 GiB, 64 passes) would take minutes per input and exceed libFuzzer's memory limit. Costs beyond
/// the maximum are still tried, since they must be refused before any work.
const FUZZ_MAX_MEMORY_KIB: u32 = 256;
const FUZZ_MAX_ITERATIONS: u32 = 2;
const FUZZ_MAX_PARALLELISM: u32 = 4;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = KeyFile::decode(data) else {
        return;
    };
    // What decodes re-encodes and decodes to the same value.
    let again = KeyFile::decode(&key.encode()).expect("a decoded key file re-encodes validly");
    assert_eq!(again, key);
    let k = &key.kdf;
    let cheap = k.memory_kib <= FUZZ_MAX_MEMORY_KIB
        && k.iterations <= FUZZ_MAX_ITERATIONS
        && k.parallelism <= FUZZ_MAX_PARALLELISM;
    let refused_early = k.memory_kib > 4 << 20 || k.iterations > 64 || k.parallelism > 64;
    if cheap || refused_early {
        let result = key.unwrap(b"cairn test vectors");
        if refused_early {
            assert!(result.is_err(), "costs beyond the maximum were accepted");
        }
    }
});
