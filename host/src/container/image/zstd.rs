//! A `tar+zstd` layer's stream, decoded by `ruzstd` (pure Rust): every zstd frame in turn,
//! as `zstd -d` reads a file, skipping skippable frames (which `zstd:chunked` images use for
//! their metadata). A stream that is empty, truncated, or holds anything but frames is a
//! read error. Frames may ask for a window of at most 128 MiB (zstd's `--long` default
//! limit), bounding the memory a layer can make policyc allocate.

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use std::io::{self, Read};

/// The largest window a frame may ask for.
const MAX_WINDOW: u64 = 128 << 20;

/// A reader of the decoded bytes of every frame of `source`.
pub(super) struct Frames<R> {
    source: R,
    decoder: FrameDecoder,
    /// Whether a frame is being decoded (else the next read starts one).
    in_frame: bool,
    /// How many frames (skippable ones included) were seen.
    frames: u64,
}

impl<R: Read> Frames<R> {
    /// Decode `source`.
    pub(super) fn new(source: R) -> Frames<R> {
        let mut decoder = FrameDecoder::new();
        decoder.set_max_window_size(MAX_WINDOW);
        Frames {
            source,
            decoder,
            in_frame: false,
            frames: 0,
        }
    }

    /// Start the next frame; `false` at the clean end of the stream (between frames).
    fn next_frame(&mut self) -> io::Result<bool> {
        let mut first = [0u8; 1];
        let got = loop {
            match self.source.read(&mut first) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if got == 0 {
            if self.frames == 0 {
                return Err(invalid("an empty stream holds no zstd frame"));
            }
            return Ok(false);
        }
        self.frames += 1;
        let mut header = (&first[..]).chain(&mut self.source);
        match self.decoder.init(&mut header) {
            Ok(()) => {
                self.in_frame = true;
                Ok(true)
            }
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                length,
                ..
            })) => {
                let want = u64::from(length);
                let skipped = io::copy(&mut (&mut self.source).take(want), &mut io::sink())?;
                if skipped != want {
                    return Err(invalid("a skippable frame is cut short"));
                }
                Ok(true)
            }
            Err(e) => Err(invalid(&format!("not a zstd frame: {e}"))),
        }
    }
}

impl<R: Read> Read for Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if !self.next_frame()? {
                    return Ok(0);
                }
                continue;
            }
            while self.decoder.can_collect() == 0 && !self.decoder.is_finished() {
                self.decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(|e| invalid(&format!("a corrupt zstd block: {e}")))?;
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.decoder.is_finished() && self.decoder.can_collect() == 0 {
                self.in_frame = false;
            }
        }
    }
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use ruzstd::encoding::{compress_to_vec, CompressionLevel};

    fn decode(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Frames::new(bytes).read_to_end(&mut out)?;
        Ok(out)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn every_frame_is_decoded_and_skippable_frames_are_skipped() {
        let (a, b) = (data(300_000), b"second frame".to_vec());
        let mut stream = compress_to_vec(&a[..], CompressionLevel::Fastest);
        // A skippable frame: magic 0x184D2A5?, a 4-byte length, that many bytes.
        stream.extend_from_slice(&0x184D_2A5Eu32.to_le_bytes());
        stream.extend_from_slice(&5u32.to_le_bytes());
        stream.extend_from_slice(b"meta!");
        stream.extend(compress_to_vec(&b[..], CompressionLevel::Uncompressed));
        let mut want = a.clone();
        want.extend_from_slice(&b);
        assert_eq!(decode(&stream).unwrap(), want);
        assert_eq!(
            decode(&compress_to_vec(&[][..], CompressionLevel::Fastest)).unwrap(),
            b""
        );
    }

    #[test]
    fn broken_streams_are_read_errors() {
        let good = compress_to_vec(&data(100_000)[..], CompressionLevel::Fastest);
        let e = decode(&good[..good.len() - 9]).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            ),
            "{e}"
        );
        let e = decode(b"").unwrap_err();
        assert!(e.to_string().contains("no zstd frame"), "{e}");
        let e = decode(b"not zstd at all").unwrap_err();
        assert!(e.to_string().contains("not a zstd frame"), "{e}");
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"junk");
        let e = decode(&trailing).unwrap_err();
        assert!(e.to_string().contains("not a zstd frame"), "{e}");
        let mut skip = 0x184D_2A50u32.to_le_bytes().to_vec();
        skip.extend_from_slice(&100u32.to_le_bytes());
        skip.extend_from_slice(b"short");
        let e = decode(&skip).unwrap_err();
        assert!(e.to_string().contains("cut short"), "{e}");
    }
}
