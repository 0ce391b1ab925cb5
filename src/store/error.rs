//! [`StoreError`]: why a session store could not be opened, read or written.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::EncodeError;

/// The underlying error of a [`StoreError`], shared so that the error stays `Clone`.
/// [`std::error::Error::source`] hands out the error itself (an [`std::io::Error`], or the
/// database's), so that it can be downcast.
pub type StoreErrorSource = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a [`SessionStore`](super::SessionStore) could not be opened, read or written.
///
/// Every variant names the store's file and says what to check; the error of the layer below
/// (the operating system's, or the database's) is reachable through
/// [`std::error::Error::source`]. After a failed [`commit`](super::SessionStore::commit) the
/// changes since the last successful commit are still buffered, and the next `commit` tries them
/// again.
///
/// ```
/// use pigeon_mqtt::store::StoreError;
/// let e = StoreError::Locked { path: "/var/lib/sensor/session.db".into() };
/// assert!(e.to_string().contains("/var/lib/sensor/session.db"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StoreError {
    /// The file system refused access: the process may not create, read or write the store's
    /// file or its directory, or the file system is mounted read-only.
    PermissionDenied {
        /// The store's file.
        path: PathBuf,
        /// The operating system's error.
        source: StoreErrorSource,
    },
    /// The disk (or the file system's quota) is full.
    DiskFull {
        /// The store's file.
        path: PathBuf,
        /// The operating system's error.
        source: StoreErrorSource,
    },
    /// Another input/output error: the directory does not exist, the device failed, ...
    Io {
        /// The store's file.
        path: PathBuf,
        /// The operating system's error.
        source: StoreErrorSource,
    },
    /// The file is a session store, but it is damaged: truncated, overwritten, or a stored
    /// record fails its checksum.
    Corrupt {
        /// The store's file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The file is not a session store of this crate (another program's file or database, or
    /// one whose header is damaged).
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The store was written in a format version that this version of the crate does not read.
    IncompatibleVersion {
        /// The store's file.
        path: PathBuf,
        /// The version recorded in the file.
        found: i64,
        /// The version this crate reads and writes.
        supported: i64,
    },
    /// Another store (in this process or another one) has the file open. A session store
    /// belongs to one client at a time.
    Locked {
        /// The store's file.
        path: PathBuf,
    },
    /// A message could not be serialised for storage (it cannot be encoded as an MQTT 5.0
    /// PUBLISH). The message is not stored; the other changes of the commit are kept for the
    /// next commit.
    Unstorable {
        /// The store's file.
        path: PathBuf,
        /// The message's sequence number.
        seq: u64,
        /// Why it cannot be encoded.
        source: EncodeError,
    },
    /// Any other error of the database.
    Database {
        /// The store's file.
        path: PathBuf,
        /// The database's error.
        source: StoreErrorSource,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::PermissionDenied { path, .. } => write!(
                f,
                "session store {}: permission denied: check that this process may read and \
                 write the file and create files in its directory, and that the file system is \
                 not read-only",
                path.display()
            ),
            StoreError::DiskFull { path, .. } => write!(
                f,
                "session store {}: no space left on the device: free some disk space (nothing \
                 since the last successful commit is on disk; the next commit retries)",
                path.display()
            ),
            StoreError::Io { path, source } => write!(
                f,
                "session store {}: I/O error: {source}: check that the directory exists and \
                 the device works",
                path.display()
            ),
            StoreError::Corrupt { path, detail } => write!(
                f,
                "session store {} is damaged ({detail}): restore it from a backup, or move it \
                 aside to start with an empty session (the messages in it are then lost)",
                path.display()
            ),
            StoreError::NotAStore { path, detail } => write!(
                f,
                "{} is not a pigeon-mqtt session store ({detail}): check the path, or move the \
                 file aside",
                path.display()
            ),
            StoreError::IncompatibleVersion {
                path,
                found,
                supported,
            } => write!(
                f,
                "session store {} has format version {found}, this version of pigeon-mqtt \
                 reads version {supported}: open it with the version that wrote it, or move it \
                 aside",
                path.display()
            ),
            StoreError::Locked { path } => write!(
                f,
                "session store {} is in use by another client (in this process or another): a \
                 store belongs to one client at a time",
                path.display()
            ),
            StoreError::Unstorable { path, seq, source } => write!(
                f,
                "session store {}: message {seq} cannot be stored: {source}",
                path.display()
            ),
            StoreError::Database { path, source } => {
                write!(
                    f,
                    "session store {}: database error: {source}",
                    path.display()
                )
            }
        }
    }
}

// Written out rather than derived: a derived `source` would hand out the `Arc`, which cannot be
// downcast to the error inside it.
impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::PermissionDenied { source, .. }
            | StoreError::DiskFull { source, .. }
            | StoreError::Io { source, .. }
            | StoreError::Database { source, .. } => Some(&**source),
            StoreError::Unstorable { source, .. } => Some(source),
            StoreError::Corrupt { .. }
            | StoreError::NotAStore { .. }
            | StoreError::IncompatibleVersion { .. }
            | StoreError::Locked { .. } => None,
        }
    }
}

/// Two errors are equal when they are the same variant with the same message (the underlying
/// errors cannot be compared).
impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
    }
}

impl Eq for StoreError {}
