//! `Node::decode` on a tree blob's payload.
#![no_main]

use cairn_repo_format::Node;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(node) = Node::decode(data) {
        // The canonical encoding of what was accepted is accepted again, as the same node.
        let again = Node::decode(&node.encode()).expect("a decoded node re-encodes validly");
        assert_eq!(again, node);
    }
});
