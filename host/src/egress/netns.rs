//! The sandbox's network namespace: created by a short-lived thread of the supervisor,
//! which brings loopback up, opens every listening socket inside it, and returns them with
//! a descriptor of the namespace. Sockets keep the namespace they were made in, so the
//! supervisor serves them from outside; the program's process joins the namespace with
//! `setns` before it execs.

#![expect(
    unsafe_code,
    reason = "setns and mount in the forked child have no safe wrapper"
)]

use crate::sys::kernel;
use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd as _, RawFd};

/// The DNS stub's address inside the namespace.
pub const DNS: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53)), 53);
/// The proxy's preferred port (an ephemeral one when a rule names it).
pub const PROXY_PORT: u16 = 3128;

/// The namespace and the sockets the supervisor owns inside it.
#[derive(Debug)]
pub struct Namespace {
    /// `/proc/thread-self/ns/net` of the thread that made it.
    pub fd: File,
    pub proxy: TcpListener,
    pub dns_udp: UdpSocket,
    pub dns_tcp: TcpListener,
    /// One listener per allowed port, on every address of the namespace.
    pub endpoints: Vec<(u16, TcpListener)>,
}

/// Which setup step failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot {what}: {err}")]
pub struct SetupError {
    pub what: String,
    #[source]
    pub err: io::Error,
}

fn step<T>(what: impl Into<String>, r: io::Result<T>) -> Result<T, SetupError> {
    r.map_err(|err| SetupError {
        what: what.into(),
        err,
    })
}

/// Create the namespace and its sockets: the DNS stub, the proxy and a listener per port.
pub fn create(ports: &[u16]) -> Result<Namespace, SetupError> {
    let ports = ports.to_vec();
    std::thread::spawn(move || in_new_namespace(&ports))
        .join()
        .unwrap_or_else(|_| {
            Err(SetupError {
                what: "create the network namespace".into(),
                err: io::Error::other("the setup thread panicked"),
            })
        })
}

fn in_new_namespace(ports: &[u16]) -> Result<Namespace, SetupError> {
    step(
        "create a network namespace",
        kernel::unshare(libc::CLONE_NEWNET),
    )?;
    step("bring loopback up", kernel::loopback_up())?;
    let fd = step("open the namespace", File::open("/proc/thread-self/ns/net"))?;
    let dns_udp = step(
        "open the DNS stub (udp 127.0.0.53:53)",
        UdpSocket::bind(DNS),
    )?;
    let dns_tcp = step(
        "open the DNS stub (tcp 127.0.0.53:53)",
        TcpListener::bind(DNS),
    )?;
    let mut endpoints = Vec::new();
    for &port in ports {
        let l = step(
            format!("listen on port {port}"),
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)),
        )?;
        endpoints.push((port, l));
    }
    let proxy_port = if ports.contains(&PROXY_PORT) {
        0
    } else {
        PROXY_PORT
    };
    let proxy = step(
        "open the proxy",
        TcpListener::bind((Ipv4Addr::LOCALHOST, proxy_port)),
    )?;
    Ok(Namespace {
        fd,
        proxy,
        dns_udp,
        dns_tcp,
        endpoints,
    })
}

/// Join the namespace `fd` names (between fork and exec: no allocation).
pub fn enter(fd: RawFd) -> io::Result<()> {
    // SAFETY: setns with a descriptor and a flag.
    let r = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Bind-mount `src` over `dst`, read-only (between fork and exec: no allocation).
pub fn bind_file(src: &CStr, dst: &CStr) -> io::Result<()> {
    // SAFETY: NUL-terminated paths that outlive the calls; null where mount allows it.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
    // SAFETY: as above.
    let r = unsafe {
        libc::mount(
            std::ptr::null(),
            dst.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The raw descriptor of the namespace.
pub fn raw(ns: &Namespace) -> RawFd {
    ns.fd.as_raw_fd()
}
