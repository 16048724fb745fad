//! Key files: the master secret wrapped under a key derived from a password.
//!
//! Stored unencrypted at `keys/<id>` as JSON (the one thing that must be readable before the password
//! is known). The wrapping key is argon2id(password, salt) with the parameters stored in the file; the
//! master secret is sealed under it with associated data `"cairn/1/key"`. Changing a password writes a
//! new key file for the same master secret and removes the old one: no data is re-encrypted.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{open_with_key, seal_with_key, MasterSecret, Nonce};
use crate::error::{FormatError, Result};
use crate::version::FORMAT_VERSION;

const KEY_AAD: &[u8] = b"cairn/1/key";
/// Most memory a key file may ask of the key derivation: 1 GiB.
pub const MAX_KDF_MEMORY_KIB: u32 = 1 << 20;
/// Most passes a key file may ask for.
pub const MAX_KDF_ITERATIONS: u32 = 16;
/// Most lanes a key file may ask for.
pub const MAX_KDF_PARALLELISM: u32 = 16;
/// Largest key file a reader parses.
pub const MAX_KEY_FILE_LEN: usize = 64 << 10;

/// argon2id parameters, stored in each key file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Always `"argon2id"`.
    pub algorithm: String,
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Random salt, base64.
    pub salt: String,
}

impl KdfParams {
    /// Explicit costs.
    pub fn with_cost(salt: [u8; 32], memory_kib: u32, iterations: u32, parallelism: u32) -> Self {
        KdfParams {
            algorithm: "argon2id".into(),
            memory_kib,
            iterations,
            parallelism,
            salt: BASE64.encode(salt),
        }
    }

    /// Derives the 32-byte wrapping key. Refuses parameters a hostile file could use to exhaust the
    /// machine.
    fn derive(&self, password: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        if self.algorithm != "argon2id" {
            return Err(FormatError::malformed(
                "key file",
                format!("unknown key derivation {:?}", self.algorithm),
            ));
        }
        if self.memory_kib > MAX_KDF_MEMORY_KIB
            || self.iterations > MAX_KDF_ITERATIONS
            || self.parallelism > MAX_KDF_PARALLELISM
        {
            return Err(FormatError::malformed(
                "key file",
                "key derivation cost beyond the permitted maximum",
            ));
        }
        let salt = BASE64
            .decode(&self.salt)
            .map_err(|e| FormatError::malformed("key file", format!("salt: {e}")))?;
        let params =
            argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
                .map_err(|e| FormatError::Kdf(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(password, &salt, out.as_mut())
            .map_err(|e| FormatError::Kdf(e.to_string()))?;
        Ok(out)
    }
}

/// A key file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    /// Format version.
    pub version: u32,
    /// When the key was added (RFC 3339).
    pub created: String,
    /// Host that added it.
    pub host: String,
    /// User that added it.
    pub username: String,
    /// Key derivation parameters.
    pub kdf: KdfParams,
    /// The sealed master secret, base64.
    pub master_key: String,
}

impl KeyFile {
    /// Wraps `secret` under `password`.
    pub fn create(
        secret: &MasterSecret,
        password: &[u8],
        kdf: KdfParams,
        nonce: &Nonce,
        created: String,
        host: String,
        username: String,
    ) -> Result<Self> {
        let wrapping = kdf.derive(password)?;
        let sealed = seal_with_key(&wrapping, nonce, KEY_AAD, &secret.0);
        Ok(KeyFile {
            version: FORMAT_VERSION,
            created,
            host,
            username,
            kdf,
            master_key: BASE64.encode(sealed),
        })
    }

    /// Unwraps the master secret, or [`FormatError::WrongPassword`].
    pub fn unwrap(&self, password: &[u8]) -> Result<MasterSecret> {
        let wrapping = self.kdf.derive(password)?;
        let sealed = BASE64
            .decode(&self.master_key)
            .map_err(|e| FormatError::malformed("key file", format!("master_key: {e}")))?;
        let plain = Zeroizing::new(
            open_with_key(&wrapping, "key file", KEY_AAD, &sealed).map_err(|e| match e {
                FormatError::Authentication { .. } => FormatError::WrongPassword,
                other => other,
            })?,
        );
        let bytes: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| FormatError::malformed("key file", "master key is not 32 bytes"))?;
        Ok(MasterSecret::from_bytes(bytes))
    }

    /// Encodes as stored.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("key file serialises")
    }

    /// Decodes stored bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_KEY_FILE_LEN {
            return Err(FormatError::malformed("key file", "too large"));
        }
        let key: KeyFile = serde_json::from_slice(bytes).map_err(FormatError::json("key file"))?;
        if key.version != FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion {
                what: "key file",
                found: key.version,
                supported: FORMAT_VERSION,
            });
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(password: &[u8]) -> KeyFile {
        KeyFile::create(
            &MasterSecret::from_bytes([9; 32]),
            password,
            KdfParams::with_cost([1; 32], 8, 1, 1),
            &[2; 24],
            "2026-01-01T00:00:00Z".into(),
            "host".into(),
            "user".into(),
        )
        .unwrap()
    }

    #[test]
    fn unwraps_with_the_right_password_only() {
        let k = KeyFile::decode(&key(b"secret").encode()).unwrap();
        assert_eq!(k.unwrap(b"secret").unwrap().0, [9; 32]);
        assert!(matches!(
            k.unwrap(b"wrong"),
            Err(FormatError::WrongPassword)
        ));
    }

    #[test]
    fn rejects_hostile_costs_and_truncation() {
        let mut k = key(b"pw");
        k.kdf.memory_kib = u32::MAX;
        assert!(k.unwrap(b"pw").is_err());
        let bytes = key(b"pw").encode();
        assert!(KeyFile::decode(&bytes[..bytes.len() / 2]).is_err());
    }
}
