//! Small facts about the running system: host name, user name, user and group names by id.

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::Mutex;

/// This machine's host name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The name of the user running cairn.
pub fn user_name() -> String {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    Names::default()
        .user(uid)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default()
}

/// True when running as root (ownership can be restored).
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Looks up user and group names by id, remembering answers.
#[derive(Default)]
pub struct Names {
    users: Mutex<HashMap<u32, Option<String>>>,
    groups: Mutex<HashMap<u32, Option<String>>>,
}

impl Names {
    /// The name of user `uid`, if it has one.
    pub fn user(&self, uid: u32) -> Option<String> {
        let mut cache = self.users.lock().expect("names lock");
        cache
            .entry(uid)
            .or_insert_with(|| {
                let mut buf = vec![0u8; 4096];
                // SAFETY: passwd is plain data; getpwuid_r fills it with pointers into buf.
                let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
                let mut result = std::ptr::null_mut();
                let rc = unsafe {
                    libc::getpwuid_r(
                        uid,
                        &mut pwd,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        &mut result,
                    )
                };
                (rc == 0 && !result.is_null()).then(|| {
                    // SAFETY: on success pw_name points at a NUL-terminated string inside buf.
                    unsafe { CStr::from_ptr(pwd.pw_name) }
                        .to_string_lossy()
                        .into_owned()
                })
            })
            .clone()
    }

    /// The name of group `gid`, if it has one.
    pub fn group(&self, gid: u32) -> Option<String> {
        let mut cache = self.groups.lock().expect("names lock");
        cache
            .entry(gid)
            .or_insert_with(|| {
                let mut buf = vec![0u8; 4096];
                // SAFETY: group is plain data; getgrgid_r fills it with pointers into buf.
                let mut grp: libc::group = unsafe { std::mem::zeroed() };
                let mut result = std::ptr::null_mut();
                let rc = unsafe {
                    libc::getgrgid_r(
                        gid,
                        &mut grp,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        &mut result,
                    )
                };
                (rc == 0 && !result.is_null()).then(|| {
                    // SAFETY: on success gr_name points at a NUL-terminated string inside buf.
                    unsafe { CStr::from_ptr(grp.gr_name) }
                        .to_string_lossy()
                        .into_owned()
                })
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_a_name() {
        assert_eq!(Names::default().user(0).as_deref(), Some("root"));
        assert!(!host_name().is_empty());
    }
}
