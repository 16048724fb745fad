//! The compression byte that opens every sealed plaintext.
//!
//! `0x00` means the rest is stored as is; `0x01` means the rest is one zstd frame. A writer stores raw
//! whenever compression does not make the payload shorter. A reader never decompresses past a limit the
//! caller sets, so a hostile frame cannot exhaust memory.

use std::io::Read;

use crate::error::{FormatError, Result};

/// Compression marker: stored as is.
pub const RAW: u8 = 0;
/// Compression marker: one zstd frame.
pub const ZSTD: u8 = 1;

/// How payloads are compressed when written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Store everything raw.
    Off,
    /// zstd at this level (the config allows 1 to 19).
    Zstd(i32),
}

impl Compression {
    /// Returns the compression byte followed by the payload, compressed if that makes it shorter.
    pub fn encode(self, payload: &[u8]) -> Vec<u8> {
        if let Compression::Zstd(level) = self {
            // zstd's bulk API writes into a buffer of the bound's size; it fails only on an invalid level,
            // which `Config` rules out, and then we fall back to raw.
            if let Ok(compressed) = zstd::bulk::compress(payload, level) {
                if compressed.len() < payload.len() {
                    let mut out = Vec::with_capacity(compressed.len() + 1);
                    out.push(ZSTD);
                    out.extend_from_slice(&compressed);
                    return out;
                }
            }
        }
        let mut out = Vec::with_capacity(payload.len() + 1);
        out.push(RAW);
        out.extend_from_slice(payload);
        out
    }
}

/// Strips the compression byte and decompresses, refusing output longer than `limit` bytes.
pub fn decode(what: &'static str, mut plaintext: Vec<u8>, limit: usize) -> Result<Vec<u8>> {
    match plaintext.first() {
        Some(&RAW) => {
            plaintext.remove(0);
            if plaintext.len() > limit {
                return Err(FormatError::Decompression {
                    what,
                    detail: format!("{} bytes exceed the limit of {limit}", plaintext.len()),
                });
            }
            Ok(plaintext)
        }
        Some(&ZSTD) => {
            let decoder = zstd::stream::read::Decoder::new(&plaintext[1..])
                .map_err(|e| FormatError::Decompression {
                    what,
                    detail: e.to_string(),
                })?
                .single_frame();
            let mut out = Vec::new();
            decoder
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| FormatError::Decompression {
                    what,
                    detail: e.to_string(),
                })?;
            if out.len() > limit {
                return Err(FormatError::Decompression {
                    what,
                    detail: format!("output exceeds the limit of {limit} bytes"),
                });
            }
            Ok(out)
        }
        Some(other) => Err(FormatError::malformed(
            what,
            format!("unknown compression byte {other:#04x}"),
        )),
        None => Err(FormatError::malformed(what, "empty plaintext")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_only_when_shorter() {
        let text = vec![b'a'; 4096];
        let enc = Compression::Zstd(3).encode(&text);
        assert_eq!(enc[0], ZSTD);
        assert!(enc.len() < 100);
        assert_eq!(decode("t", enc, 4096).unwrap(), text);
        let random: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let enc = Compression::Off.encode(&random);
        assert_eq!(enc[0], RAW);
        assert_eq!(decode("t", enc, 4096).unwrap(), random);
    }

    #[test]
    fn refuses_output_over_the_limit() {
        let enc = Compression::Zstd(3).encode(&vec![0u8; 1 << 20]);
        assert!(decode("t", enc, 1000).is_err());
        assert!(decode("t", vec![9, 1, 2], 10).is_err());
        assert!(decode("t", vec![], 10).is_err());
    }
}
