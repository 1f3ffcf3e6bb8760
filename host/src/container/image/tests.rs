#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;
use serde_json::json;
use std::io::Write as _;

/// One tar entry of a test layer; paths are written into the header as they are, so
/// entries a well-behaved builder refuses (`..`, absolute) can be made.
enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a str),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Fifo(&'a str),
}

fn raw_name(h: &mut tar::Header, name: &str) {
    let field = &mut h.as_old_mut().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
}

fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_old();
        h.set_mode(0o644);
        h.set_size(0);
        let (name, data) = match e {
            E::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (*n, "")
            }
            E::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(d.len() as u64);
                (*n, *d)
            }
            E::Sym(n, t) | E::Hard(n, t) => {
                let kind = if matches!(e, E::Sym(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                h.set_entry_type(kind);
                let field = &mut h.as_old_mut().linkname;
                field[..t.len()].copy_from_slice(t.as_bytes());
                (*n, "")
            }
            E::Fifo(n) => {
                h.set_entry_type(tar::EntryType::Fifo);
                (*n, "")
            }
        };
        raw_name(&mut h, name);
        h.set_cksum();
        b.append(&h, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Write a blob; its descriptor as JSON.
fn blob(dir: &Path, media: &str, bytes: &[u8]) -> serde_json::Value {
    let h = hex(bytes);
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(&h), bytes).unwrap();
    json!({"mediaType": media, "digest": format!("sha256:{h}"), "size": bytes.len()})
}

const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

const ZST: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

fn zstd(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}

/// A manifest over `layers` (tar bytes, compressed when `gzip`) with a matching
/// configuration; its descriptor.
fn manifest(dir: &Path, layers: &[(Vec<u8>, bool)]) -> serde_json::Value {
    let typed: Vec<(Vec<u8>, &str)> = layers
        .iter()
        .map(|(t, gz)| (t.clone(), if *gz { GZ } else { TAR }))
        .collect();
    manifest_of(dir, &typed)
}

/// [`manifest`] with each layer's media type (`TAR`, `GZ`, `ZST`), compressed as it says.
fn manifest_of(dir: &Path, layers: &[(Vec<u8>, &str)]) -> serde_json::Value {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (t, media) in layers {
        diff_ids.push(format!("sha256:{}", hex(t)));
        let packed = match *media {
            GZ => gzip(t),
            ZST => zstd(t),
            _ => t.clone(),
        };
        descs.push(blob(dir, media, &packed));
    }
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["SECRET=from-the-image"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = blob(
        dir,
        "application/vnd.oci.image.config.v1+json",
        config.to_string().as_bytes(),
    );
    let m = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": descs});
    blob(
        dir,
        "application/vnd.oci.image.manifest.v1+json",
        m.to_string().as_bytes(),
    )
}

fn write_index(dir: &Path, manifests: &[serde_json::Value]) {
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": manifests});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
}

/// A layout holding one image of `layers`, and an empty folder to unpack it in.
fn layout(layers: &[(Vec<u8>, bool)]) -> (tempfile::TempDir, Layout, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layout");
    std::fs::create_dir_all(&dir).unwrap();
    let m = manifest(&dir, layers);
    write_index(&dir, &[m]);
    let dest = tmp.path().join("rootfs");
    std::fs::create_dir(&dest).unwrap();
    let l = Layout { dir, tag: None };
    (tmp, l, dest)
}

fn layer_digests(l: &Layout) -> Vec<PathBuf> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(l.dir.join("index.json")).unwrap()).unwrap();
    let m = index["manifests"][0]["digest"].as_str().unwrap();
    let path = l.dir.join("blobs/sha256").join(&m[7..]);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            l.dir
                .join("blobs/sha256")
                .join(&d["digest"].as_str().unwrap()[7..])
        })
        .collect()
}

#[test]
fn layers_apply_in_order_with_whiteouts() {
    let base = tar_of(&[
        E::Dir("./"),
        E::Dir("etc/"),
        E::File("etc/a", "A"),
        E::File("etc/b", "B"),
        E::Dir("d/"),
        E::File("d/x", "X"),
        E::Dir("d/sub/"),
        E::File("d/sub/y", "Y"),
        E::Sym("bin", "usr/bin"),
        E::File("top", "old"),
    ]);
    let top = tar_of(&[
        E::File("etc/.wh.a", ""),
        E::Dir("d/"),
        E::File("d/new", "N"),
        E::File("d/.wh..wh..opq", ""),
        E::File("top", "new"),
        E::Hard("etc/b2", "etc/b"),
        E::Fifo("run/fifo"),
    ]);
    let (_tmp, l, dest) = layout(&[(base, true), (top, false)]);
    let out = l.unpack(&dest).unwrap();
    assert!(!dest.join("etc/a").exists(), "whited out");
    assert_eq!(std::fs::read_to_string(dest.join("etc/b")).unwrap(), "B");
    assert_eq!(std::fs::read_to_string(dest.join("etc/b2")).unwrap(), "B");
    assert!(!dest.join("d/x").exists(), "hidden by the opaque marker");
    assert!(!dest.join("d/sub").exists(), "hidden by the opaque marker");
    assert_eq!(
        std::fs::read_to_string(dest.join("d/new")).unwrap(),
        "N",
        "the same layer's entry stays"
    );
    assert!(!dest.join("d/.wh..wh..opq").exists());
    assert!(!dest.join("etc/.wh.a").exists());
    assert_eq!(std::fs::read_to_string(dest.join("top")).unwrap(), "new");
    assert_eq!(
        std::fs::read_link(dest.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    assert!(!dest.join("run/fifo").exists());
    assert_eq!(out.skipped, ["/run/fifo (FIFO)"]);
    assert!(out.manifest.starts_with("sha256:"));
}

#[test]
fn a_blob_that_does_not_match_its_digest_is_refused() {
    let t = tar_of(&[E::File("f", "content")]);
    let (_tmp, l, dest) = layout(&[(t, false)]);
    let blob = &layer_digests(&l)[0];
    let mut bytes = std::fs::read(blob).unwrap();
    bytes[600] ^= 1; // inside the file's data block: same size
    std::fs::write(blob, &bytes).unwrap();
    let err = l.unpack(&dest).unwrap_err().to_string();
    assert!(err.contains("does not match its digest"), "{err}");
    assert!(
        !dest.join("f").exists(),
        "nothing unpacked before the check"
    );

    bytes.push(0);
    std::fs::write(blob, &bytes).unwrap();
    let err = l.unpack(&dest).unwrap_err().to_string();
    assert!(err.contains("but its descriptor says"), "{err}");

    std::fs::remove_file(blob).unwrap();
    let err = l.unpack(&dest).unwrap_err().to_string();
    assert!(err.contains("the layout is incomplete"), "{err}");
}

#[test]
fn a_layer_whose_content_differs_from_its_diff_id_is_refused() {
    let (_tmp, l, dest) = layout(&[(tar_of(&[E::File("f", "x")]), true)]);
    // Rewrite the configuration's diff_id (and the digests up to index.json).
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(l.dir.join("index.json")).unwrap()).unwrap();
    let md = index["manifests"][0]["digest"].as_str().unwrap()[7..].to_string();
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(l.dir.join("blobs/sha256").join(md)).unwrap())
            .unwrap();
    let config = json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", "0".repeat(64))]}});
    m["config"] = blob(
        &l.dir,
        "application/vnd.oci.image.config.v1+json",
        config.to_string().as_bytes(),
    );
    let d = blob(
        &l.dir,
        "application/vnd.oci.image.manifest.v1+json",
        m.to_string().as_bytes(),
    );
    write_index(&l.dir, &[d]);
    let err = l.unpack(&dest).unwrap_err().to_string();
    assert!(err.contains("not the configuration's diff_id"), "{err}");
}

#[test]
fn unsupported_media_types_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let layer = blob(
        &dir,
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        b"not really",
    );
    let config = json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", hex(b"x"))]}});
    let config = blob(
        &dir,
        "application/vnd.oci.image.config.v1+json",
        config.to_string().as_bytes(),
    );
    let m = json!({"schemaVersion": 2, "config": config, "layers": [layer]});
    let m = blob(
        &dir,
        "application/vnd.oci.image.manifest.v1+json",
        m.to_string().as_bytes(),
    );
    write_index(&dir, &[m]);
    let l = Layout { dir, tag: None };
    let err = l.unpack(&tmp.path().join("x")).unwrap_err().to_string();
    assert!(
        err.contains("media type `application/vnd.oci.image.layer.nondistributable.v1.tar+zstd`"),
        "{err}"
    );
    assert!(
        err.contains("not supported (supported: tar, tar+gzip, tar+zstd)"),
        "{err}"
    );

    let nested = blob(
        tmp.path(),
        "application/vnd.oci.image.index.v1+json",
        br#"{"schemaVersion":2,"manifests":[]}"#,
    );
    write_index(tmp.path(), &[nested]);
    let err = l.unpack(&tmp.path().join("x")).unwrap_err().to_string();
    assert!(err.contains("the manifest sha256:"), "{err}");
}

#[test]
fn entries_that_escape_the_root_are_refused() {
    for bad in [
        tar_of(&[E::File("../escaped", "x")]),
        tar_of(&[E::File("a/../../escaped", "x")]),
        tar_of(&[E::File("/escaped", "x")]),
        tar_of(&[E::Hard("h", "../escaped")]),
        tar_of(&[E::Hard("h", "/etc/passwd")]),
    ] {
        let (tmp, l, dest) = layout(&[(bad, false)]);
        let err = l.unpack(&dest).unwrap_err().to_string();
        assert!(err.contains("escapes the root"), "{err}");
        assert!(!tmp.path().join("escaped").exists());
        assert!(!dest.join("h").exists());
    }
}

#[test]
fn a_symbolic_link_is_never_written_through() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().display().to_string();
    // In one layer, and across layers.
    let one = vec![(
        tar_of(&[E::Sym("a", &target), E::File("a/x", "pwned")]),
        false,
    )];
    let two = vec![
        (tar_of(&[E::Sym("a", &target)]), false),
        (tar_of(&[E::Dir("a/"), E::File("a/x", "fine")]), true),
    ];
    let (_t, l, dest) = layout(&one);
    let err = l.unpack(&dest).unwrap_err().to_string();
    assert!(err.contains("`/a` is a symbolic link"), "{err}");
    assert!(!outside.path().join("x").exists());

    // A later layer that makes `a` a folder replaces the link (never writes through it).
    let (_t, l, dest) = layout(&two);
    l.unpack(&dest).unwrap();
    assert!(!outside.path().join("x").exists());
    assert!(is_real_dir_at(&dest.join("a")));
    assert_eq!(std::fs::read_to_string(dest.join("a/x")).unwrap(), "fine");

    let via_link = vec![
        (tar_of(&[E::Sym("a", &target)]), false),
        (tar_of(&[E::File("a/x", "pwned")]), false),
    ];
    let (_t, l, dest) = layout(&via_link);
    let err = l.unpack(&dest).unwrap_err().to_string();
    assert!(err.contains("`/a` is a symbolic link"), "{err}");
    assert!(!outside.path().join("x").exists());

    // A file over a link to an outside file replaces the link.
    std::fs::write(outside.path().join("f"), "outside").unwrap();
    let f = format!("{target}/f");
    let over = vec![
        (tar_of(&[E::Sym("s", &f)]), false),
        (tar_of(&[E::File("s", "inside")]), false),
    ];
    let (_t, l, dest) = layout(&over);
    l.unpack(&dest).unwrap();
    assert_eq!(
        std::fs::read_to_string(outside.path().join("f")).unwrap(),
        "outside"
    );
    assert!(std::fs::symlink_metadata(dest.join("s")).unwrap().is_file());

    // A whiteout through a link removes nothing outside.
    let wh = vec![
        (tar_of(&[E::Sym("s", &target)]), false),
        (tar_of(&[E::File("s/.wh.f", "")]), false),
    ];
    let (_t, l, dest) = layout(&wh);
    assert!(l.unpack(&dest).is_err());
    assert!(outside.path().join("f").exists());
}

fn is_real_dir_at(p: &Path) -> bool {
    std::fs::symlink_metadata(p).unwrap().is_dir()
}

#[test]
fn the_manifest_is_chosen_by_name_or_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layout");
    std::fs::create_dir_all(&dir).unwrap();
    let mut a = manifest(&dir, &[(tar_of(&[E::File("which", "a")]), false)]);
    let mut b = manifest(&dir, &[(tar_of(&[E::File("which", "b")]), false)]);
    a["annotations"] = json!({REF_NAME: "alpha"});
    b["annotations"] = json!({REF_NAME: "beta"});
    write_index(&dir, &[a.clone(), b.clone()]);
    let unpack = |tag: Option<&str>| {
        let dest = tempfile::tempdir_in(tmp.path()).unwrap();
        let l = Layout {
            dir: dir.clone(),
            tag: tag.map(str::to_string),
        };
        l.unpack(dest.path())
            .map(|_| std::fs::read_to_string(dest.path().join("which")).unwrap())
            .map_err(|e| e.to_string())
    };
    assert_eq!(unpack(Some("beta")).unwrap(), "b");
    assert_eq!(unpack(Some("alpha")).unwrap(), "a");
    let err = unpack(None).unwrap_err();
    assert!(
        err.contains("name one as DIR:TAG (names: alpha, beta)"),
        "{err}"
    );
    let err = unpack(Some("gamma")).unwrap_err();
    assert!(err.contains("0 manifests named `gamma`"), "{err}");

    a["platform"] = json!({"os": "linux", "architecture": "s390x"});
    b["platform"] = json!({"os": "linux", "architecture": host_arch()});
    write_index(&dir, &[a, b]);
    assert_eq!(unpack(None).unwrap(), "b");

    let arg = format!("{}:alpha", dir.display());
    assert_eq!(
        Layout::from_arg(Path::new(&arg)),
        Some(Layout {
            dir: dir.clone(),
            tag: Some("alpha".into())
        })
    );
    assert_eq!(Layout::from_arg(&dir).map(|l| l.tag), Some(None));
    assert_eq!(Layout::from_arg(tmp.path()), None, "a plain folder");
}

/// A layout holding one image of `layers` (each with its media type).
fn layout_of(layers: &[(Vec<u8>, &str)]) -> (tempfile::TempDir, Layout, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layout");
    std::fs::create_dir_all(&dir).unwrap();
    let m = manifest_of(&dir, layers);
    write_index(&dir, &[m]);
    let dest = tmp.path().join("rootfs");
    std::fs::create_dir(&dest).unwrap();
    (tmp, Layout { dir, tag: None }, dest)
}

#[test]
fn zstd_layers_unpack_over_gzip_and_tar_ones() {
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    let base = tar_of(&[
        E::Dir("etc/"),
        E::File("etc/a", "A"),
        E::File("etc/gone", "G"),
    ]);
    let mid = tar_of(&[E::File("etc/.wh.gone", ""), E::File("big", &big)]);
    let top = tar_of(&[E::Sym("link", "etc/a"), E::File("etc/a", "from zstd")]);
    let (_tmp, l, dest) = layout_of(&[(base, GZ), (mid, ZST), (top, TAR)]);
    l.unpack(&dest).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("etc/a")).unwrap(),
        "from zstd"
    );
    assert!(!dest.join("etc/gone").exists(), "the zstd layer's whiteout");
    assert_eq!(std::fs::read_to_string(dest.join("big")).unwrap(), big);

    let only = tar_of(&[E::File("f", "zstd alone")]);
    let (_tmp, l, dest) = layout_of(&[(only, ZST)]);
    l.unpack(&dest).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("f")).unwrap(),
        "zstd alone"
    );
}

/// Rewrite the only layer's blob (and the digests up to `index.json`) so the blob matches
/// its descriptor: only the diff_id and the decoder can catch what is wrong in it.
fn replace_layer(l: &Layout, packed: &[u8], media: &str, diff_id: &str) {
    let config = json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}});
    let config = blob(
        &l.dir,
        "application/vnd.oci.image.config.v1+json",
        config.to_string().as_bytes(),
    );
    let m = json!({"schemaVersion": 2, "config": config, "layers": [blob(&l.dir, media, packed)]});
    let m = blob(
        &l.dir,
        "application/vnd.oci.image.manifest.v1+json",
        m.to_string().as_bytes(),
    );
    write_index(&l.dir, &[m]);
}

#[test]
fn a_corrupt_zstd_layer_is_refused() {
    let t = tar_of(&[E::File("f", &"payload ".repeat(4000))]);
    let diff_id = format!("sha256:{}", hex(&t));
    let (_tmp, l, dest) = layout_of(&[(t.clone(), ZST)]);
    let blob_path = &layer_digests(&l)[0];

    // Changed after its descriptor was written: the digest check refuses it first.
    let mut bytes = std::fs::read(blob_path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(blob_path, &bytes).unwrap();
    let err = l.unpack(&dest).unwrap_err().to_string();
    assert!(err.contains("does not match its digest"), "{err}");

    // A blob that matches its descriptor but is not zstd, is cut short, or decodes to
    // other content than the diff_id says.
    let good = zstd(&t);
    let mut other = t.clone();
    other[600] ^= 1;
    let cases: [(Vec<u8>, &str); 4] = [
        (gzip(&t), "not a zstd frame"),
        (good[..good.len() / 2].to_vec(), "blob sha256:"),
        ([&good[..], b"junk"].concat(), "not a zstd frame"),
        (zstd(&other), "not the configuration's diff_id"),
    ];
    for (packed, why) in cases {
        let dest = tempfile::tempdir().unwrap();
        replace_layer(&l, &packed, ZST, &diff_id);
        let e = l.unpack(dest.path()).unwrap_err();
        assert!(matches!(e, ImageError::Blob { .. }), "{e:?}");
        let err = e.to_string();
        assert!(err.contains(why), "{why}: {err}");
    }
}
