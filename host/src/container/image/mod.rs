//! An OCI image layout as a container's root file system (`policyc exec --rootfs LAYOUT`):
//! a folder holding `oci-layout`, `index.json` and `blobs/sha256/…`, as `skopeo copy …
//! oci:DIR` or `umoci` write it.
//!
//! [`Layout::unpack`] reads `index.json`, picks one manifest (the one named by `DIR:TAG`
//! through its `org.opencontainers.image.ref.name` annotation, else the only one, else the
//! one for this machine's `linux/ARCH`), reads the manifest and the image configuration,
//! and unpacks the layers in order into a private folder ([`unpack`]). Every blob is
//! checked against its descriptor before it is used: a blob that is missing, whose size or
//! sha256 digest differs, or whose media type is not one of the supported ones is refused.
//! Layers are `tar`, `tar+gzip` or `tar+zstd` (decoded in pure Rust by `ruzstd`).
//! A layer is hashed a second time as it is unpacked (the compressed bytes against the
//! descriptor, the uncompressed tar against the configuration's `rootfs.diff_ids`), so a
//! blob changed between the check and the use is refused too.
//!
//! The configuration's `Env`, `Cmd`, `Entrypoint`, `User` and `WorkingDir` are not used:
//! the policy's `env` block and the command given to `policyc exec` decide what runs.

mod unpack;
mod zstd;

use oci_spec::image::{
    Descriptor, DigestAlgorithm, ImageConfiguration, ImageIndex, ImageManifest, MediaType,
};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{self, Read, Seek as _};
use std::path::{Path, PathBuf};

/// The annotation naming a manifest of an index (`skopeo copy … oci:DIR:TAG`).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The layer media types unpacked (`application/vnd.oci.image.layer.v1.…`).
const LAYER_TYPES: &str = "tar, tar+gzip, tar+zstd";

/// How a layer's tar stream is compressed.
#[derive(Debug, Clone, Copy)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The largest JSON document (index, manifest, configuration) read into memory.
const MAX_JSON: u64 = 4 << 20;

/// Why an image layout was not unpacked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// A file of the layout or of the tree being unpacked could not be read or written.
    #[error("{what}: {err}")]
    Io {
        what: String,
        #[source]
        err: io::Error,
    },
    /// `oci-layout`, `index.json`, a manifest or the configuration is not what the image
    /// specification says.
    #[error("{what}: {why}")]
    Invalid { what: String, why: String },
    /// A blob is missing or differs from its descriptor.
    #[error("blob {digest}: {why}")]
    Blob { digest: String, why: String },
    /// A descriptor's media type (or digest algorithm) is not supported.
    #[error("{what} has media type `{media}`, which is not supported (supported: {supported})")]
    MediaType {
        what: String,
        media: String,
        supported: &'static str,
    },
    /// No single manifest fits.
    #[error("{0}")]
    Select(String),
    /// A layer holds an entry that is refused.
    #[error("layer {layer}: `{entry}`: {why}")]
    Entry {
        layer: String,
        entry: String,
        why: String,
    },
}

/// An OCI image layout folder, and the name of the manifest to use in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The layout folder.
    pub dir: PathBuf,
    /// The `org.opencontainers.image.ref.name` of the manifest, when one is named.
    pub tag: Option<String>,
}

/// What unpacking left out.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// The manifest used (`sha256:…`).
    pub manifest: String,
    /// Entries not created: device nodes and FIFOs (`path (kind)`), in layer order.
    pub skipped: Vec<String>,
}

/// Whether `dir` is an OCI image layout (it holds an `oci-layout` file).
pub fn is_layout(dir: &Path) -> bool {
    dir.join("oci-layout").is_file()
}

impl Layout {
    /// `DIR` when it is an image layout, or `DIR:TAG` when `DIR` is one; `None` otherwise.
    pub fn from_arg(arg: &Path) -> Option<Layout> {
        if is_layout(arg) {
            return Some(Layout {
                dir: arg.to_path_buf(),
                tag: None,
            });
        }
        let s = arg.to_str()?;
        let (dir, tag) = s.rsplit_once(':')?;
        (!tag.is_empty() && !tag.contains('/') && is_layout(Path::new(dir))).then(|| Layout {
            dir: PathBuf::from(dir),
            tag: Some(tag.to_string()),
        })
    }

    /// Unpack the chosen image into `dest` (an empty folder only policyc writes to).
    pub fn unpack(&self, dest: &Path) -> Result<Unpacked, ImageError> {
        check_version(&self.dir)?;
        let index: ImageIndex = json(&read_small(&self.dir.join("index.json"))?, "index.json")?;
        let chosen = select(index.manifests(), self.tag.as_deref())?;
        media(
            chosen,
            "the manifest",
            &[MediaType::ImageManifest],
            "an OCI image manifest",
        )?;
        let what = format!("manifest {}", chosen.digest());
        let manifest: ImageManifest = json(&self.read_blob(chosen)?, &what)?;
        let config_desc = manifest.config();
        media(
            config_desc,
            "the image configuration",
            &[MediaType::ImageConfig],
            "an OCI image configuration",
        )?;
        let what = format!("image configuration {}", config_desc.digest());
        let config: ImageConfiguration = json(&self.read_blob(config_desc)?, &what)?;
        if config.os().to_string() != "linux" {
            return Err(ImageError::Invalid {
                what,
                why: format!("the image is for `{}`, not linux", config.os()),
            });
        }
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Err(ImageError::Invalid {
                what,
                why: format!(
                    "{} diff_ids for {} layers",
                    diff_ids.len(),
                    manifest.layers().len()
                ),
            });
        }
        let mut out = Unpacked {
            manifest: chosen.digest().to_string(),
            skipped: Vec::new(),
        };
        for (layer, diff_id) in manifest.layers().iter().zip(diff_ids) {
            self.unpack_layer(layer, diff_id, dest, &mut out.skipped)?;
        }
        Ok(out)
    }

    /// Check one layer blob, then unpack it over `dest`, hashing it again as it is read.
    fn unpack_layer(
        &self,
        desc: &Descriptor,
        diff_id: &str,
        dest: &Path,
        skipped: &mut Vec<String>,
    ) -> Result<(), ImageError> {
        let compression = match desc.media_type() {
            MediaType::ImageLayer => Compression::None,
            MediaType::ImageLayerGzip => Compression::Gzip,
            MediaType::ImageLayerZstd => Compression::Zstd,
            other => {
                return Err(ImageError::MediaType {
                    what: format!("layer {}", desc.digest()),
                    media: other.to_string(),
                    supported: LAYER_TYPES,
                })
            }
        };
        let mut file = self.open_verified(desc)?;
        let digest = desc.digest().to_string();
        let mut packed = Digester::default();
        let mut plain = Digester::default();
        {
            let src = Hashing {
                inner: &mut file,
                digester: &mut packed,
            };
            let decoded: Box<dyn Read + '_> = match compression {
                Compression::None => Box::new(src),
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(src)),
                Compression::Zstd => Box::new(zstd::Frames::new(src)),
            };
            let mut archive = tar::Archive::new(Hashing {
                inner: decoded,
                digester: &mut plain,
            });
            unpack::layer(&mut archive, dest, &digest, skipped)?;
            let mut rest = archive.into_inner();
            io::copy(&mut rest, &mut io::sink()).map_err(|err| ImageError::Blob {
                digest: digest.clone(),
                why: format!("cannot read the layer: {err}"),
            })?;
        }
        if packed.hex() != desc.digest().digest() || packed.len != desc.size() {
            return Err(ImageError::Blob {
                digest,
                why: "changed while it was unpacked".into(),
            });
        }
        if format!("sha256:{}", plain.hex()) != diff_id {
            return Err(ImageError::Blob {
                digest,
                why: format!(
                    "its uncompressed content is sha256:{}, not the configuration's diff_id {diff_id}",
                    plain.hex()
                ),
            });
        }
        Ok(())
    }

    /// Where a descriptor's blob is: `blobs/sha256/HEX` (the digest's hex is checked by
    /// the parser, so it names no other folder).
    fn blob_path(&self, desc: &Descriptor) -> Result<PathBuf, ImageError> {
        let digest = desc.digest();
        if *digest.algorithm() != DigestAlgorithm::Sha256 {
            return Err(ImageError::MediaType {
                what: format!("blob {digest}"),
                media: digest.algorithm().to_string(),
                supported: "sha256 digests",
            });
        }
        Ok(self.dir.join("blobs/sha256").join(digest.digest()))
    }

    /// The blob of `desc`, opened, its size and digest checked, rewound.
    fn open_verified(&self, desc: &Descriptor) -> Result<File, ImageError> {
        let path = self.blob_path(desc)?;
        let digest = desc.digest().to_string();
        let blob = |why: String| ImageError::Blob {
            digest: digest.clone(),
            why,
        };
        let mut file = File::open(&path).map_err(|e| {
            blob(format!(
                "cannot open `{}` ({e}); the layout is incomplete",
                path.display()
            ))
        })?;
        let meta = file.metadata().map_err(|e| blob(e.to_string()))?;
        if !meta.is_file() {
            return Err(blob(format!("`{}` is not a file", path.display())));
        }
        if meta.len() != desc.size() {
            return Err(blob(format!(
                "{} bytes, but its descriptor says {}",
                meta.len(),
                desc.size()
            )));
        }
        let mut d = Digester::default();
        io::copy(
            &mut Hashing {
                inner: &mut file,
                digester: &mut d,
            },
            &mut io::sink(),
        )
        .map_err(|e| blob(format!("cannot read it: {e}")))?;
        if d.hex() != desc.digest().digest() || d.len != desc.size() {
            return Err(blob(format!(
                "its content is sha256:{} ({} bytes): it does not match its digest",
                d.hex(),
                d.len
            )));
        }
        file.rewind().map_err(|e| blob(e.to_string()))?;
        Ok(file)
    }

    /// A JSON blob (manifest, configuration), checked, read whole.
    fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, ImageError> {
        if desc.size() > MAX_JSON {
            return Err(ImageError::Blob {
                digest: desc.digest().to_string(),
                why: format!("{} bytes is too large for a JSON document", desc.size()),
            });
        }
        let mut file = self.open_verified(desc)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|err| ImageError::Io {
            what: desc.digest().to_string(),
            err,
        })?;
        Ok(bytes)
    }
}

/// `oci-layout` must say `imageLayoutVersion` 1.x.
fn check_version(dir: &Path) -> Result<(), ImageError> {
    let v: serde_json::Value = json(&read_small(&dir.join("oci-layout"))?, "oci-layout")?;
    match v.get("imageLayoutVersion").and_then(|v| v.as_str()) {
        Some(version) if version.starts_with("1.") => Ok(()),
        other => Err(ImageError::Invalid {
            what: "oci-layout".into(),
            why: format!("imageLayoutVersion {other:?} is not 1.x"),
        }),
    }
}

/// Refuse a descriptor whose media type is not one of `allowed`.
fn media(
    desc: &Descriptor,
    what: &str,
    allowed: &[MediaType],
    supported: &'static str,
) -> Result<(), ImageError> {
    if allowed.contains(desc.media_type()) {
        return Ok(());
    }
    Err(ImageError::MediaType {
        what: format!("{what} {}", desc.digest()),
        media: desc.media_type().to_string(),
        supported,
    })
}

/// The manifest to use: the one named `tag`, else the only one, else the one for this
/// machine's `linux/ARCH`.
fn select<'a>(
    manifests: &'a [Descriptor],
    tag: Option<&str>,
) -> Result<&'a Descriptor, ImageError> {
    let name = |d: &Descriptor| {
        d.annotations()
            .as_ref()
            .and_then(|a| a.get(REF_NAME))
            .cloned()
    };
    let candidates: Vec<&Descriptor> = match tag {
        Some(tag) => manifests
            .iter()
            .filter(|d| name(d).as_deref() == Some(tag))
            .collect(),
        None => manifests.iter().collect(),
    };
    if let [only] = candidates.as_slice() {
        return Ok(*only);
    }
    let arch = host_arch();
    let native: Vec<&Descriptor> = candidates
        .iter()
        .copied()
        .filter(|d| {
            d.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == arch
            })
        })
        .collect();
    if let [only] = native.as_slice() {
        return Ok(*only);
    }
    let mut names: Vec<String> = manifests.iter().filter_map(name).collect();
    names.sort();
    let named = if names.is_empty() {
        "none is named".to_string()
    } else {
        format!("names: {}", names.join(", "))
    };
    let which = tag.map_or(String::new(), |t| format!(" named `{t}`"));
    Err(ImageError::Select(format!(
        "index.json has {} manifests{which}, {} of them for linux/{arch}; name one as DIR:TAG ({named})",
        candidates.len(),
        native.len()
    )))
}

/// This machine's architecture as OCI spells it.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn read_small(path: &Path) -> Result<Vec<u8>, ImageError> {
    let what = path.display().to_string();
    let file = File::open(path).map_err(|err| ImageError::Io {
        what: what.clone(),
        err,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_JSON + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| ImageError::Io {
            what: what.clone(),
            err,
        })?;
    if bytes.len() as u64 > MAX_JSON {
        return Err(ImageError::Invalid {
            what,
            why: format!("larger than {MAX_JSON} bytes"),
        });
    }
    Ok(bytes)
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::Invalid {
        what: what.to_string(),
        why: e.to_string(),
    })
}

/// A running sha256 and byte count.
#[derive(Default)]
struct Digester {
    hash: Sha256,
    len: u64,
}

impl Digester {
    fn hex(&self) -> String {
        self.hash
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A reader that feeds what it reads to a [`Digester`].
struct Hashing<'a, R> {
    inner: R,
    digester: &'a mut Digester,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = buf.get(..n).unwrap_or_default();
        self.digester.hash.update(read);
        self.digester.len += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
