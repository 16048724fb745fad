//! Keys and the authenticated-encryption envelope.
//!
//! A repository has one random 32-byte master secret. From it, BLAKE3's key derivation gives two keys:
//! the XChaCha20-Poly1305 key that seals every blob and file, and the BLAKE3 key that names blobs. Every
//! sealed object is `nonce (24) || ciphertext || tag (16)`, authenticated together with a context string
//! (the associated data) so that one kind of object can never pass for another.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{FormatError, Result};
use crate::id::BlobId;

/// Length of an XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;
/// Length of a Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed object adds to its plaintext.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// BLAKE3 key-derivation contexts (see spec/crypto.md).
const ENCRYPTION_KEY_CONTEXT: &str = "cairn 2026-11 v1 encryption key";
const BLOB_ID_KEY_CONTEXT: &str = "cairn 2026-11 v1 blob id key";

/// A nonce for one seal operation.
pub type Nonce = [u8; NONCE_LEN];

/// A fresh random nonce from the operating system.
pub fn random_nonce() -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut n);
    n
}

/// The repository's master secret: 32 random bytes, wrapped in key files, never stored in the clear.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterSecret(pub(crate) [u8; 32]);

impl MasterSecret {
    /// A new random master secret, for `init`.
    pub fn generate() -> Self {
        let mut s = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut s);
        MasterSecret(s)
    }

    /// A master secret from known bytes (test vectors only).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterSecret(bytes)
    }

    /// The working keys derived from this secret.
    pub fn keys(&self) -> Keys {
        let mut enc = blake3::derive_key(ENCRYPTION_KEY_CONTEXT, &self.0);
        let id = blake3::derive_key(BLOB_ID_KEY_CONTEXT, &self.0);
        let keys = Keys {
            aead: XChaCha20Poly1305::new(Key::from_slice(&enc)),
            id_key: id,
        };
        enc.zeroize();
        keys
    }
}

impl std::fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterSecret(..)")
    }
}

/// The keys derived from the master secret: what every reader and writer of the repository holds.
#[derive(Clone)]
pub struct Keys {
    aead: XChaCha20Poly1305,
    id_key: [u8; 32],
}

impl Drop for Keys {
    fn drop(&mut self) {
        // The cipher zeroizes its own key (chacha20poly1305's "zeroize" default feature).
        self.id_key.zeroize();
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    /// The id of a blob: BLAKE3 of its plaintext keyed with the blob id key.
    pub fn blob_id(&self, plaintext: &[u8]) -> BlobId {
        BlobId(*blake3::keyed_hash(&self.id_key, plaintext).as_bytes())
    }

    /// Seals `plaintext` under `nonce` with associated data `aad`.
    pub fn seal(&self, nonce: &Nonce, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
        out.extend_from_slice(nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .aead
            .encrypt_in_place_detached(XNonce::from_slice(nonce), aad, &mut out[NONCE_LEN..])
            .expect("XChaCha20-Poly1305 accepts any message shorter than 256 GiB");
        out.extend_from_slice(&tag);
        out
    }

    /// Opens a sealed object, returning its plaintext.
    pub fn open(&self, what: &'static str, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        open_with(&self.aead, what, aad, sealed)
    }
}

/// Seals with a key given as bytes (the key-wrapping key of a key file).
pub(crate) fn seal_with_key(
    key: &[u8; 32],
    nonce: &Nonce,
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let keys = Keys {
        aead: XChaCha20Poly1305::new(Key::from_slice(key)),
        id_key: [0; 32],
    };
    keys.seal(nonce, aad, plaintext)
}

/// Opens with a key given as bytes (the key-wrapping key of a key file).
pub(crate) fn open_with_key(
    key: &[u8; 32],
    what: &'static str,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>> {
    open_with(
        &XChaCha20Poly1305::new(Key::from_slice(key)),
        what,
        aad,
        sealed,
    )
}

fn open_with(
    aead: &XChaCha20Poly1305,
    what: &'static str,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(FormatError::malformed(
            what,
            format!(
                "{} bytes is shorter than the {SEAL_OVERHEAD}-byte envelope",
                sealed.len()
            ),
        ));
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut buf = ciphertext.to_vec();
    aead.decrypt_in_place_detached(
        XNonce::from_slice(nonce),
        aad,
        &mut buf,
        Tag::from_slice(tag),
    )
    .map_err(|_| FormatError::Authentication { what })?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper_detection() {
        let keys = MasterSecret::from_bytes([7; 32]).keys();
        let sealed = keys.seal(&[1; NONCE_LEN], b"ctx", b"hello");
        assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(keys.open("test", b"ctx", &sealed).unwrap(), b"hello");
        assert!(keys.open("test", b"other", &sealed).is_err());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(
                keys.open("test", b"ctx", &bad).is_err(),
                "bit flip at {i} undetected"
            );
        }
        assert!(keys.open("test", b"ctx", &sealed[..10]).is_err());
    }

    #[test]
    fn blob_ids_depend_on_the_key() {
        let a = MasterSecret::from_bytes([1; 32]).keys();
        let b = MasterSecret::from_bytes([2; 32]).keys();
        assert_eq!(a.blob_id(b"x"), a.blob_id(b"x"));
        assert_ne!(a.blob_id(b"x"), b.blob_id(b"x"));
        assert_ne!(a.blob_id(b"x").0, *blake3::hash(b"x").as_bytes());
    }
}
