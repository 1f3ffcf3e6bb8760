#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
use super::*;

/// One info record as the kernel lays it out (padded to 4 bytes).
fn info(kind: u8, fsid: [i32; 2], handle: &[u8], name: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&fsid[0].to_ne_bytes());
    body.extend_from_slice(&fsid[1].to_ne_bytes());
    body.extend_from_slice(&u32::try_from(handle.len()).unwrap().to_ne_bytes());
    body.extend_from_slice(&1i32.to_ne_bytes());
    body.extend_from_slice(handle);
    body.extend_from_slice(name.as_bytes());
    body.push(0);
    while (body.len() + 4) % 4 != 0 {
        body.push(0);
    }
    let mut r = vec![kind, 0];
    r.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_ne_bytes());
    r.extend_from_slice(&body);
    r
}

/// One event: metadata then its info records.
fn event(mask: u64, pid: i32, infos: &[Vec<u8>]) -> Vec<u8> {
    let extra: usize = infos.iter().map(Vec::len).sum();
    let mut e = Vec::new();
    e.extend_from_slice(&u32::try_from(METADATA + extra).unwrap().to_ne_bytes());
    e.push(3); // FANOTIFY_METADATA_VERSION
    e.push(0);
    e.extend_from_slice(&u16::try_from(METADATA).unwrap().to_ne_bytes());
    e.extend_from_slice(&mask.to_ne_bytes());
    e.extend_from_slice(&(-1i32).to_ne_bytes()); // FAN_NOFD
    e.extend_from_slice(&pid.to_ne_bytes());
    for i in infos {
        e.extend_from_slice(i);
    }
    e
}

#[test]
fn events_decode_with_their_folders_and_names() {
    let mut buf = event(
        libc::FAN_CREATE,
        42,
        &[info(
            libc::FAN_EVENT_INFO_TYPE_DFID_NAME,
            [7, 9],
            &[1, 2, 3, 4, 5, 6, 7, 8],
            "a.txt",
        )],
    );
    buf.extend(event(
        libc::FAN_RENAME,
        43,
        &[
            info(
                libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME,
                [7, 9],
                &[1; 8],
                "b",
            ),
            info(
                libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME,
                [7, 9],
                &[2; 12],
                "c.txt",
            ),
        ],
    ));
    let events = parse(&buf);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].mask, libc::FAN_CREATE);
    assert_eq!(events[0].pid, 42);
    assert_eq!(
        events[0].names,
        [Named {
            role: Role::Entry,
            dir: Handle {
                fsid: [7, 9],
                handle_type: 1,
                bytes: vec![1, 2, 3, 4, 5, 6, 7, 8]
            },
            name: "a.txt".into(),
        }]
    );
    let roles: Vec<(Role, &str)> = events[1]
        .names
        .iter()
        .map(|n| (n.role, n.name.to_str().unwrap()))
        .collect();
    assert_eq!(roles, [(Role::Old, "b"), (Role::New, "c.txt")]);
    assert_eq!(events[1].names[1].dir.bytes, vec![2; 12]);
}

#[test]
fn a_truncated_or_lying_buffer_never_panics_and_keeps_whole_events() {
    let one = event(
        libc::FAN_MODIFY,
        1,
        &[info(
            libc::FAN_EVENT_INFO_TYPE_DFID_NAME,
            [0, 0],
            &[9; 8],
            "f",
        )],
    );
    let mut buf = one.clone();
    buf.extend_from_slice(&one);
    for cut in 0..buf.len() {
        let n = parse(&buf[..cut]).len();
        assert_eq!(n, usize::from(cut >= one.len()), "cut at {cut}");
    }
    // An info record that claims more than the event holds is dropped, not read past.
    let mut lying = one.clone();
    lying[METADATA + 2] = 0xff;
    assert_eq!(parse(&lying)[0].names, []);
    // A handle size beyond the record is dropped.
    let mut big = one;
    big[METADATA + 12] = 0xff;
    assert_eq!(parse(&big)[0].names, []);
}

/// A group handed to the background takes no other descriptor with it: a lock the run
/// holds (an audit log's) is free as soon as the run drops its own descriptor.
#[test]
fn a_group_closed_in_the_background_takes_no_other_descriptor_with_it() {
    use std::os::unix::fs::OpenOptionsExt as _;
    let Ok(group) = init() else {
        assert_ne!(super::super::euid(), 0, "root can make a fanotify group");
        return;
    };
    let dir = std::env::temp_dir().join(format!("policyc-fan-bg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log");
    let held = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log)
        .unwrap();
    held.try_lock().unwrap();
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    mark_filesystem(&group, &c, WRITE_EVENTS).unwrap();
    close_in_background(group);
    drop(held);
    // Had the grandchild kept a copy of the log's descriptor, its lock would live on.
    let again = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    assert!(
        again.try_lock().is_ok(),
        "the lock went with the run's descriptor"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
