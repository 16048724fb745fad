//! `Config::decode` on a payload (what the sealed `config` file holds once opened).
#![no_main]

use cairn_repo_format::{Config, FORMAT_VERSION};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = Config::decode(data) {
        assert_eq!(config.version, FORMAT_VERSION);
        config.validate().expect("a decoded config is valid");
        let again = Config::decode(&config.encode()).expect("a decoded config re-encodes validly");
        assert_eq!(again, config);
    }
});
