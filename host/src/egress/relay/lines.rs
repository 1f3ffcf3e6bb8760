//! Line-oriented reading for the mail relays: CRLF-terminated lines of bounded length and
//! counted octets (IMAP literals), over any byte stream.

use tokio::io::{
    AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadHalf, WriteHalf,
};

/// A byte stream both ways (a TCP or TLS connection, boxed).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The longest command or response line the relays take.
pub const MAX_LINE: usize = 64 * 1024;

/// A reader with its own buffer; `inner` is the stream (written to directly).
pub struct Lines<R> {
    pub inner: R,
    buf: Vec<u8>,
}

impl<R> std::fmt::Debug for Lines<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines")
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin> Lines<R> {
    /// Read from `inner`.
    pub fn new(inner: R) -> Lines<R> {
        Lines {
            inner,
            buf: Vec::new(),
        }
    }

    /// True when bytes were read but not yet taken (a client that sent more after
    /// `STARTTLS` than the command).
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The stream, for an upgrade to TLS (only when nothing is buffered).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The reading half (keeping what is buffered) and the writing half.
    pub fn split(self) -> (Lines<ReadHalf<R>>, WriteHalf<R>)
    where
        R: AsyncWrite,
    {
        let (r, w) = tokio::io::split(self.inner);
        (
            Lines {
                inner: r,
                buf: self.buf,
            },
            w,
        )
    }

    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 8192];
        match self.inner.read(&mut chunk).await {
            Ok(0) => Err("the connection closed".into()),
            Ok(n) => {
                self.buf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default());
                Ok(())
            }
            Err(e) => Err(format!("reading: {e}")),
        }
    }

    /// The next line, with its line ending (LF or CRLF); an error for a line longer than
    /// [`MAX_LINE`] or a closed connection.
    pub async fn line(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let rest = self.buf.split_off(i.saturating_add(1));
                return Ok(std::mem::replace(&mut self.buf, rest));
            }
            if self.buf.len() > MAX_LINE {
                return Err("a line is too long".into());
            }
            self.fill().await?;
        }
    }

    /// The next line within `timeout`.
    pub async fn line_within(&mut self, timeout: std::time::Duration) -> Result<Vec<u8>, String> {
        tokio::time::timeout(timeout, self.line())
            .await
            .map_err(|_| "no answer in time".to_string())?
    }

    /// Exactly `n` bytes.
    pub async fn exact(&mut self, n: usize) -> Result<Vec<u8>, String> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        let rest = self.buf.split_off(n);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    /// Copy exactly `n` bytes to `to`, without holding them all.
    pub async fn copy(
        &mut self,
        n: usize,
        to: &mut (impl AsyncWrite + Unpin),
    ) -> Result<(), String> {
        let mut left = n;
        while left > 0 {
            if self.buf.is_empty() {
                self.fill().await?;
            }
            let take = left.min(self.buf.len());
            let rest = self.buf.split_off(take);
            let chunk = std::mem::replace(&mut self.buf, rest);
            to.write_all(&chunk)
                .await
                .map_err(|e| format!("writing: {e}"))?;
            left = left.saturating_sub(take);
        }
        Ok(())
    }
}

impl<R: AsyncRead + AsyncWrite + Unpin> Lines<R> {
    /// Write `bytes` to the stream and flush.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.inner
            .write_all(bytes)
            .await
            .map_err(|e| format!("writing: {e}"))?;
        self.inner
            .flush()
            .await
            .map_err(|e| format!("writing: {e}"))
    }
}

/// The literal a line announces at its end (`{n}` or `{n+}` before the line ending): its
/// length and whether it is non-synchronising.
pub fn literal(line: &[u8]) -> Option<(usize, bool)> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_suffix(b"}")?;
    let (line, plus) = match line.strip_suffix(b"+") {
        Some(l) => (l, true),
        None => (line, false),
    };
    let open = line.iter().rposition(|b| *b == b'{')?;
    let digits = line.get(open.saturating_add(1)..)?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n, plus))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn literals_are_read_from_the_line_end() {
        assert_eq!(literal(b"a APPEND INBOX {12}\r\n"), Some((12, false)));
        assert_eq!(literal(b"a APPEND INBOX {12+}\r\n"), Some((12, true)));
        assert_eq!(literal(b"a LOGIN {3}\n"), Some((3, false)));
        assert_eq!(literal(b"a SEARCH TEXT \"{12}\"\r\n"), None);
        assert_eq!(literal(b"a NOOP\r\n"), None);
        assert_eq!(literal(b"a X {}\r\n"), None);
        assert_eq!(literal(b"a X {99999999999999999999999}\r\n"), None);
    }

    #[test]
    fn lines_and_counted_bytes() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut l = Lines::new(&b"one\r\ntwo\nabcrest\r\n"[..]);
            assert_eq!(l.line().await.unwrap(), b"one\r\n");
            assert_eq!(l.line().await.unwrap(), b"two\n");
            assert_eq!(l.exact(3).await.unwrap(), b"abc");
            assert_eq!(l.line().await.unwrap(), b"rest\r\n");
            assert!(l.line().await.is_err());
        });
    }
}
