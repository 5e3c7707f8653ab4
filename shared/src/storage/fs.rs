//! The local lake: a folder with the same key layout as the S3 bucket.
//!
//! `put` writes to a temporary file under `<root>/.gras/tmp/` and renames it into place, so
//! a reader never sees a partial object and a killed process leaves no torn file.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::blob::{validate_key, BlobError, BlobStore, ObjectMeta};
use crate::parallel::blocking;

/// Folder name under the root that holds local state; never listed as objects.
pub const STATE_DIR: &str = ".gras";

/// A bucket stored as a folder.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// The folder behind the store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        validate_key(key)?;
        if key == STATE_DIR || key.starts_with(&format!("{STATE_DIR}/")) {
            return Err(BlobError::InvalidKey {
                key: key.to_string(),
                reason: "reserved for local state",
            });
        }
        Ok(self.root.join(key))
    }
}

fn io(key: &str) -> impl Fn(std::io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        key: key.to_string(),
        source,
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        let path = self.path(key)?;
        let k = key.to_string();
        blocking(move || match std::fs::read(&path) {
            Ok(b) => Ok(Bytes::from(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(BlobError::NotFound { key: k })
            }
            Err(e) if path.is_dir() => Err(BlobError::NotFound {
                key: format!("{k} ({e})"),
            }),
            Err(e) => Err(io(&k)(e)),
        })
        .await
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<(), BlobError> {
        let path = self.path(key)?;
        let tmp_dir = self.root.join(STATE_DIR).join("tmp");
        let k = key.to_string();
        blocking(move || {
            let parent = path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(parent).map_err(io(&k))?;
            std::fs::create_dir_all(&tmp_dir).map_err(io(&k))?;
            let tmp = tempfile_in(&tmp_dir, &body).map_err(io(&k))?;
            std::fs::rename(&tmp, &path).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                io(&k)(e)
            })
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path(key)?;
        let k = key.to_string();
        blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&k)(e)),
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, BlobError> {
        // Walk only the deepest folder the prefix names entirely.
        let dir_part = prefix.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let start = if dir_part.is_empty() {
            self.root.clone()
        } else {
            self.root.join(dir_part)
        };
        let root = self.root.clone();
        let prefix = prefix.to_string();
        blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![start];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io(&prefix)(e)),
                };
                for entry in entries {
                    let entry = entry.map_err(io(&prefix))?;
                    let path = entry.path();
                    let Ok(rel) = path.strip_prefix(&root) else {
                        continue;
                    };
                    let Some(key) = rel
                        .to_str()
                        .map(|s| s.replace(std::path::MAIN_SEPARATOR, "/"))
                    else {
                        continue;
                    };
                    if key == STATE_DIR {
                        continue;
                    }
                    let ft = entry.file_type().map_err(io(&prefix))?;
                    if ft.is_dir() {
                        if prefix.starts_with(&format!("{key}/"))
                            || key.starts_with(&prefix)
                            || prefix.is_empty()
                        {
                            stack.push(path);
                        }
                    } else if ft.is_file() && key.starts_with(&prefix) {
                        let size = entry.metadata().map_err(io(&prefix))?.len();
                        out.push(ObjectMeta { key, size });
                    }
                }
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
    }
}

/// Writes `body` to a new uniquely named file in `dir` and returns its path.
fn tempfile_in(dir: &Path, body: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let name = format!(
        "{}-{}-{}.tmp",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    f.write_all(body)?;
    f.sync_data()?;
    Ok(path)
}
