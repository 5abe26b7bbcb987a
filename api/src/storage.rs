//! Where uploaded files live. One small trait so an object store can replace the local disk
//! (needed with several API instances) without touching handlers.

use std::path::{Path, PathBuf};

use crate::error::{ApiError, ApiResult};

#[async_trait::async_trait]
pub trait Storage: Send + Sync {
    /// Stores `bytes` as `container/name` and returns the key to serve it under.
    async fn put(&self, container: &str, name: &str, bytes: &[u8]) -> ApiResult<String>;
    /// The stored bytes, or `None` when there is no such file.
    async fn get(&self, key: &str) -> ApiResult<Option<Vec<u8>>>;
    async fn delete(&self, key: &str) -> ApiResult<()>;
    /// Stores what `reader` yields as `container/name`, streamed (imports can be gigabytes);
    /// refuses with 413 past `cap` bytes, keeping nothing. Returns the key and the size.
    async fn put_reader(
        &self,
        container: &str,
        name: &str,
        reader: &mut (dyn tokio::io::AsyncRead + Unpin + Send),
        cap: u64,
    ) -> ApiResult<(String, u64)>;
    /// A blocking reader over a stored file, for parsers that run on a blocking thread.
    async fn open(&self, key: &str) -> ApiResult<Option<Box<dyn std::io::Read + Send>>>;
}

pub struct LocalDisk {
    root: PathBuf,
}

impl LocalDisk {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Resolves a key inside the root, refusing anything that could step outside it.
    fn path(&self, key: &str) -> Option<PathBuf> {
        let mut path = self.root.clone();
        let mut parts = 0;
        for part in key.split('/') {
            if !is_safe_segment(part) {
                return None;
            }
            path.push(part);
            parts += 1;
        }
        (parts == 2).then_some(path)
    }
}

/// A file or folder name made only of safe characters, never `.` or `..`.
pub fn is_safe_segment(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 128
        && !part.starts_with('.')
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[async_trait::async_trait]
impl Storage for LocalDisk {
    async fn put(&self, container: &str, name: &str, bytes: &[u8]) -> ApiResult<String> {
        let mut reader = bytes;
        let (key, _) = self
            .put_reader(container, name, &mut reader, bytes.len() as u64)
            .await?;
        Ok(key)
    }

    async fn get(&self, key: &str) -> ApiResult<Option<Vec<u8>>> {
        let Some(path) = self.path(key) else {
            return Ok(None);
        };
        match tokio::fs::read(Path::new(&path)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    async fn delete(&self, key: &str) -> ApiResult<()> {
        if let Some(path) = self.path(key) {
            match tokio::fs::remove_file(path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ApiError::internal(e)),
            }
        }
        Ok(())
    }

    async fn put_reader(
        &self,
        container: &str,
        name: &str,
        reader: &mut (dyn tokio::io::AsyncRead + Unpin + Send),
        cap: u64,
    ) -> ApiResult<(String, u64)> {
        use tokio::io::AsyncReadExt;
        let key = format!("{container}/{name}");
        let path = self
            .path(&key)
            .ok_or_else(|| ApiError::value("invalid file name"))?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(ApiError::internal)?;
        }
        // Write then rename, so a reader never sees half a file.
        let tmp = path.with_extension("part");
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(ApiError::internal)?;
        let copied = tokio::io::copy(&mut reader.take(cap + 1), &mut file).await;
        let size = match copied {
            Ok(n) if n <= cap => n,
            Ok(_) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(ApiError::PayloadTooLarge(format!(
                    "the file may be at most {cap} bytes"
                )));
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(ApiError::value(format!("the file could not be read: {e}")));
            }
        };
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(ApiError::internal)?;
        drop(file);
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(ApiError::internal)?;
        Ok((key, size))
    }

    async fn open(&self, key: &str) -> ApiResult<Option<Box<dyn std::io::Read + Send>>> {
        let Some(path) = self.path(key) else {
            return Ok(None);
        };
        match std::fs::File::open(path) {
            Ok(file) => Ok(Some(Box::new(file))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ApiError::internal(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_root() {
        let disk = LocalDisk::new("/srv/uploads");
        assert!(disk.path("user_1/a.png").is_some());
        for bad in [
            "../etc/passwd",
            "user_1/../../x",
            "user_1/.hidden",
            "/abs/x",
            "a/b/c",
            "user_1/a b.png",
            "user_1/",
        ] {
            assert!(disk.path(bad).is_none(), "{bad} accepted");
        }
    }
}
