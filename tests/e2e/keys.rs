//! Keys: several passwords for one repository, and changing a password.

use std::fs;

use crate::roundtrip::restored;
use crate::util::*;

const CHEAP: [&str; 4] = ["--kdf-memory-kib", "8", "--kdf-iterations", "1"];

#[test]
fn keys_are_added_listed_removed_and_passwords_changed() {
    let s = Scratch::new();
    s.init();
    let src = s.join("src");
    write(&src.join("data"), Rng::new(6).bytes(100_000));
    s.backup(&[&src], &[]);
    let second_pw = s.join("second");
    fs::write(&second_pw, "second password\n").unwrap();

    let mut args = vec![
        "--json",
        "key",
        "add",
        "--new-password-file",
        second_pw.to_str().unwrap(),
    ];
    args.extend_from_slice(&CHEAP);
    let added = s.cairn(&args).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let list = s.cairn(&["--json", "key", "list"]).ok().json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let current: Vec<&serde_json::Value> = list.iter().filter(|k| k["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let original = current[0]["id"].as_str().unwrap().to_string();
    assert_ne!(original, added);
    // The text listing marks the key in use.
    let text = s.cairn(&["key", "list"]).ok().stdout();
    assert!(text.contains(&format!("*{}", &original[..8])), "{text}");

    // Both passwords open the repository.
    let with_second = [("CAIRN_PASSWORD", "second password")];
    s.cairn_env(&["snapshots"], &with_second).ok();
    // The key in use cannot be removed; the other one can, by prefix.
    let r = s.cairn(&["key", "remove", &original[..8]]).code(1);
    assert!(r.stderr.contains("session is using"), "{}", r.stderr);
    let removed = s
        .cairn_env(&["--json", "key", "remove", &original[..8]], &with_second)
        .ok()
        .json();
    assert_eq!(removed["id"], original.as_str());
    s.cairn(&["snapshots"]).code(12);
    s.cairn_env(&["key", "remove", "ffffffff"], &with_second)
        .code(1);

    // passwd replaces the key in use: the old password stops working, the data stays readable.
    let third_pw = s.join("third");
    fs::write(&third_pw, "third password").unwrap();
    let mut args = vec![
        "--json",
        "key",
        "passwd",
        "--new-password-file",
        third_pw.to_str().unwrap(),
    ];
    args.extend_from_slice(&CHEAP);
    let new_key = s.cairn_env(&args, &with_second).ok().json();
    assert_eq!(new_key["id"].as_str().unwrap().len(), 64);
    let r = s.cairn_env(&["snapshots"], &with_second).code(12);
    assert!(r.stderr.contains("wrong password"), "{}", r.stderr);
    let with_third = [("CAIRN_PASSWORD", "third password")];
    assert_eq!(
        s.cairn_env(&["--json", "key", "list"], &with_third)
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let target = s.join("t");
    s.cairn_env(
        &["restore", "latest", "--target", target.to_str().unwrap()],
        &with_third,
    )
    .ok();
    assert_same_tree(&src, &restored(&target, &src), Compare::default());
    s.cairn_env(&["check", "--read-data"], &with_third).ok();

    // Off a terminal, a new password must come from a file.
    let r = s.cairn_env(&["key", "add"], &with_third).code(1);
    assert!(r.stderr.contains("--new-password-file"), "{}", r.stderr);
}
