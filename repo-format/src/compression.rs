//! The compression byte that opens every sealed plaintext.
//!
//! `0x00` means the rest is stored as is; `0x01` means the rest is one zstd frame. A writer stores raw
//! whenever compression does not make the payload shorter. A reader never decompresses past a limit the
//! caller sets, so a hostile frame cannot exhaust memory.
//!
//! zstd's contexts are kept per thread and reused: creating one for every blob cost 6% of a backup
//! of many small files and 4% of their restore.

use std::cell::RefCell;
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
            // Compression fails only on an invalid level, which `Config` rules out; then we fall
            // back to raw.
            if let Some(compressed) = compress(payload, level) {
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

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// One zstd frame of `payload` at `level` (with its content size in the header), through this
/// thread's compression context.
fn compress(payload: &[u8], level: i32) -> Option<Vec<u8>> {
    COMPRESSOR.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        let (_, compressor) = slot.as_mut()?;
        compressor.compress(payload).ok()
    })
}

/// Decompresses `frame`, which must be exactly one zstd frame declaring a content size of at most
/// `limit`, through this thread's context. `None` when the frame declares no size (the caller then
/// streams it).
fn decompress_sized(frame: &[u8], limit: usize) -> Option<std::io::Result<Vec<u8>>> {
    let size = zstd::zstd_safe::get_frame_content_size(frame).ok()??;
    let invalid = |detail: String| std::io::Error::new(std::io::ErrorKind::InvalidData, detail);
    if size > limit as u64 {
        return Some(Err(invalid(format!(
            "output exceeds the limit of {limit} bytes"
        ))));
    }
    if zstd::zstd_safe::find_frame_compressed_size(frame) != Ok(frame.len()) {
        return Some(Err(invalid("not exactly one zstd frame".into())));
    }
    Some(DECOMPRESSOR.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        let decompressor = slot
            .as_mut()
            .ok_or_else(|| invalid("no zstd context".into()))?;
        let out = decompressor.decompress(frame, size as usize)?;
        if out.len() as u64 != size {
            return Err(invalid(format!(
                "frame declares {size} bytes but holds {}",
                out.len()
            )));
        }
        Ok(out)
    }))
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
            if let Some(out) = decompress_sized(&plaintext[1..], limit) {
                return out.map_err(|e| FormatError::Decompression {
                    what,
                    detail: e.to_string(),
                });
            }
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
    fn frames_without_a_declared_size_and_concatenated_frames_are_handled() {
        let text = vec![b'z'; 10_000];
        // A streamed frame declares no content size: it is decoded by streaming.
        let mut streamed = vec![ZSTD];
        streamed.extend(zstd::stream::encode_all(&text[..], 3).unwrap());
        assert_eq!(decode("t", streamed, 10_000).unwrap(), text);
        // Two frames back to back are not one frame.
        let one = Compression::Zstd(3).encode(&text);
        let mut two = one.clone();
        two.extend_from_slice(&one[1..]);
        assert!(decode("t", two, 20_000).is_err());
        // A level change in the same thread gets a context of its own level.
        assert_eq!(
            decode("t", Compression::Zstd(19).encode(&text), 10_000).unwrap(),
            text
        );
        assert_eq!(
            decode("t", Compression::Zstd(1).encode(&text), 10_000).unwrap(),
            text
        );
    }

    #[test]
    fn refuses_output_over_the_limit() {
        let enc = Compression::Zstd(3).encode(&vec![0u8; 1 << 20]);
        assert!(decode("t", enc, 1000).is_err());
        assert!(decode("t", vec![9, 1, 2], 10).is_err());
        assert!(decode("t", vec![], 10).is_err());
    }
}
