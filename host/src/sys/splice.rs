//! Moving bytes between two sockets inside the kernel: `splice(2)` from one socket into a
//! pipe and from the pipe into the other, so the egress supervisor relays a connection
//! without copying its bytes through its own memory.

#![expect(
    unsafe_code,
    reason = "pipe2, splice and shutdown have no safe wrapper"
)]

use std::io;
use std::os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd};

/// The pipe's capacity asked for: a larger pipe moves more per wake-up. The kernel may
/// refuse it (`fs.pipe-max-size`); the pipe then keeps its default, [`DEFAULT_PIPE`].
const PIPE: libc::c_int = 1 << 20;
const DEFAULT_PIPE: usize = 64 * 1024;

/// A pipe that holds what was read from one socket until it is written to another.
#[derive(Debug)]
pub struct Splicer {
    read: OwnedFd,
    write: OwnedFd,
    held: usize,
    capacity: usize,
}

impl Splicer {
    /// A non-blocking pipe; fails when no descriptor is left.
    pub fn new() -> io::Result<Splicer> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into the array.
        let ret = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        let [r, w] = fds;
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(r), OwnedFd::from_raw_fd(w)) };
        // SAFETY: fcntl on a descriptor this function owns; F_SETPIPE_SZ takes an int.
        let size = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE) };
        let capacity = usize::try_from(size)
            .unwrap_or(DEFAULT_PIPE)
            .max(DEFAULT_PIPE);
        Ok(Splicer {
            read,
            write,
            held: 0,
            capacity,
        })
    }

    /// Bytes read from a socket and not yet written out.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Move what `from` has to read (at most a pipe's worth) into the pipe: the count, 0 at
    /// the end of the stream, `WouldBlock` when nothing is ready.
    pub fn fill(&mut self, from: BorrowedFd<'_>) -> io::Result<usize> {
        let n = splice(from, self.write.as_raw_fd(), self.capacity)?;
        self.held += n;
        Ok(n)
    }

    /// Move what the pipe holds into `to`: the count, `WouldBlock` when `to` cannot take
    /// more now.
    pub fn drain(&mut self, to: BorrowedFd<'_>) -> io::Result<usize> {
        let n = splice_raw(self.read.as_raw_fd(), to.as_raw_fd(), self.held)?;
        self.held = self.held.saturating_sub(n);
        Ok(n)
    }
}

fn splice(from: BorrowedFd<'_>, to: i32, len: usize) -> io::Result<usize> {
    splice_raw(from.as_raw_fd(), to, len)
}

fn splice_raw(from: i32, to: i32, len: usize) -> io::Result<usize> {
    // SAFETY: null offsets (both ends are streams); the descriptors are open and owned by
    // the caller for the duration of the call.
    let ret = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    usize::try_from(ret).map_err(|_| io::Error::last_os_error())
}

/// Shut the sending side of a socket down, so its peer reads the end of the stream.
pub fn shutdown_write(socket: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: shutdown takes a descriptor and a constant; the descriptor is open.
    let ret = unsafe { libc::shutdown(socket.as_raw_fd(), libc::SHUT_WR) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd as _;

    /// Bytes written into one connection come out of another, in order, after a fill and
    /// drains; the end of the stream is a fill of 0.
    #[test]
    fn bytes_move_from_one_socket_to_another_through_the_pipe() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        let l2 = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l2.local_addr().unwrap()).unwrap();
        let (mut d, _) = l2.accept().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        a.write_all(&data).unwrap();
        a.shutdown(std::net::Shutdown::Write).unwrap();
        let mut sp = Splicer::new().unwrap();
        let mut moved = 0;
        loop {
            let n = sp.fill(b.as_fd()).unwrap();
            if n == 0 {
                break;
            }
            while sp.held() > 0 {
                moved += sp.drain(c.as_fd()).unwrap();
            }
        }
        shutdown_write(c.as_fd()).unwrap();
        let mut got = Vec::new();
        d.read_to_end(&mut got).unwrap();
        assert_eq!(moved, data.len());
        assert_eq!(got, data);
    }

    #[test]
    fn a_socket_with_nothing_to_read_would_block() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let _a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        b.set_nonblocking(true).unwrap();
        let mut sp = Splicer::new().unwrap();
        let e = sp.fill(b.as_fd()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(sp.held(), 0);
    }
}
