//! Typical work for a statically linked compiled tool (Rust std on glibc, `+crt-static`),
//! traced by derive.sh to derive `syscalls static_binary`: files, directories, threads,
//! channels, a TCP round trip on 127.0.0.1, time and randomness.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::{env, fs, thread, time};

fn main() -> std::io::Result<()> {
    let work = env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/static-work".into());
    let docs = format!("{work}/docs");
    let out = format!("{work}/out");
    fs::create_dir_all(&docs)?;
    fs::create_dir_all(&out)?;
    for i in 0..10 {
        fs::write(
            format!("{docs}/note-{i}.txt"),
            format!("note {i}\n").repeat(20),
        )?;
    }
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(format!("{docs}/note-0.txt"))?;
    f.write_all(b"appended\n")?;
    f.sync_all()?;
    let mut total = 0u64;
    for e in fs::read_dir(&docs)? {
        let e = e?;
        total += e.metadata()?.len();
        let _ = fs::read(e.path())?;
    }
    fs::copy(format!("{docs}/note-1.txt"), format!("{out}/copy.txt"))?;
    fs::rename(format!("{out}/copy.txt"), format!("{out}/moved.txt"))?;
    let _ = fs::canonicalize(format!("{out}/moved.txt"))?;
    let _ = fs::symlink_metadata(&docs)?;
    fs::remove_file(format!("{out}/moved.txt"))?;
    fs::create_dir_all(format!("{out}/a/b"))?;
    fs::remove_dir_all(format!("{out}/a"))?;
    let _ = env::current_dir()?;

    let counter = Arc::new(Mutex::new(0u64));
    let (tx, rx) = mpsc::channel();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let c = Arc::clone(&counter);
            let tx = tx.clone();
            thread::spawn(move || {
                *c.lock().unwrap() += i;
                tx.send(i).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(tx);
    let _: u64 = rx.iter().sum();

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf)?;
        s.write_all(&buf)
    });
    let mut c = TcpStream::connect(addr)?;
    c.set_read_timeout(Some(time::Duration::from_secs(5)))?;
    c.write_all(b"ping")?;
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf)?;
    server.join().unwrap()?;

    let _ = time::SystemTime::now();
    let t = time::Instant::now();
    thread::sleep(time::Duration::from_millis(5));
    let _ = t.elapsed();
    let _ = std::collections::HashMap::<u8, u8>::new(); // seeds from getrandom
    let _ = thread::available_parallelism();
    println!("{{\"bytes\": {total}}}");
    Ok(())
}
