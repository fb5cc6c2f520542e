//! Where a signed-in session lives between runs: the core's snapshot bytes, behind the
//! [`TokenStore`] trait.
//!
//! [`FileStore`] keeps one file per named profile in the OS data directory, mode 0600,
//! replaced atomically (temp file in the same directory + fsync + rename + fsync of the
//! directory), so a crash at any point leaves either the old or the new snapshot (LIFE-6).
//! Its [`lock`](TokenStore::lock) is an exclusive `flock` on a sibling lock file, held by the
//! client around a refresh so two processes never refresh the same grant at once (LIFE-4).
//! The store holds bytes only; what they mean (and whether they are valid for a profile) is
//! the core's business ([`Session::restore`]).
//!
//! [`Session::restore`]: latchkey_core::session::Session::restore

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use fs4::fs_std::FileExt;

use crate::error::{Error, StoreProblem};

/// The largest file accepted as a snapshot (bytes). A snapshot is its tokens plus about
/// 40 bytes, so this leaves room for any token the core accepts.
pub const MAX_SNAPSHOT_FILE: u64 = 64 * 1024;

/// File name extension of a snapshot file.
pub const SNAPSHOT_EXT: &str = "snapshot";

/// Durable storage for one profile's session snapshot.
///
/// Implementations must make [`save`](TokenStore::save) atomic (a reader sees the old or
/// the new bytes, never a mix) and durable before it returns: the client reports a refresh
/// as done only after `save` returned (LIFE-2).
pub trait TokenStore {
    /// The stored snapshot, or `None` when nothing is stored.
    fn load(&self) -> Result<Option<Vec<u8>>, Error>;
    /// Replaces the stored snapshot, atomically and durably.
    fn save(&self, snapshot: &[u8]) -> Result<(), Error>;
    /// Deletes the stored snapshot (nothing stored is not an error).
    fn erase(&self) -> Result<(), Error>;
    /// Takes the store's exclusive lock (across threads and processes, where the store can),
    /// held until the guard is dropped. The client holds it around a refresh (LIFE-4).
    fn lock(&self) -> Result<StoreLock, Error>;
    /// Where the snapshot lives, for messages (a file path, or a description).
    fn location(&self) -> PathBuf;
}

/// An exclusive store lock; released when dropped.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct StoreLock {
    _file: Option<File>,
}

impl StoreLock {
    /// A guard that holds nothing (for stores without cross-process state).
    pub fn none() -> Self {
        Self { _file: None }
    }
}

/// One file per profile: `{dir}/{profile}.snapshot`, mode 0600, replaced atomically; lock
/// file `{dir}/{profile}.lock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStore {
    dir: PathBuf,
    profile: String,
}

impl FileStore {
    /// The store for `profile` in `dir` (created on first save, mode 0700). A profile name
    /// is 1 to 64 letters, digits, `-` or `_`, so it can never name another path.
    pub fn new(dir: impl Into<PathBuf>, profile: &str) -> Result<Self, Error> {
        let dir = dir.into();
        let ok = !profile.is_empty()
            && profile.len() <= 64
            && profile
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(Error::Store {
                path: dir.join(profile),
                problem: StoreProblem::BadProfileName,
            });
        }
        Ok(Self {
            dir,
            profile: profile.to_owned(),
        })
    }

    /// The OS data directory for latchkey (e.g. `~/.local/share/latchkey` on Linux), if the
    /// OS has one for this user.
    pub fn default_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "latchkey").map(|d| d.data_dir().to_path_buf())
    }

    /// The snapshot file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.{SNAPSHOT_EXT}", self.profile))
    }

    /// The lock file.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.profile))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io_error(&self, path: PathBuf, e: io::Error) -> Error {
        let _ = self;
        Error::Store {
            path,
            problem: StoreProblem::Io(e),
        }
    }

    fn ensure_dir(&self) -> Result<(), Error> {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&self.dir)
            .map_err(|e| self.io_error(self.dir.clone(), e))
    }

    fn write_atomically(&self, bytes: &[u8]) -> Result<(), Error> {
        self.ensure_dir()?;
        let target = self.path();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = self.dir.join(format!(
            ".{}.{}.{nanos}.tmp",
            self.profile,
            std::process::id()
        ));
        let result = (|| {
            let mut opts = OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &target)?;
            sync_dir(&self.dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(|e| self.io_error(target, e))
    }
}

impl TokenStore for FileStore {
    fn load(&self) -> Result<Option<Vec<u8>>, Error> {
        let path = self.path();
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_error(path, e)),
        };
        let len = f
            .metadata()
            .map_err(|e| self.io_error(path.clone(), e))?
            .len();
        if len > MAX_SNAPSHOT_FILE {
            return Err(Error::Store {
                path,
                problem: StoreProblem::TooLarge(len),
            });
        }
        let mut bytes = Vec::with_capacity(len as usize);
        Read::by_ref(&mut f)
            .take(MAX_SNAPSHOT_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io_error(path.clone(), e))?;
        if bytes.len() as u64 > MAX_SNAPSHOT_FILE {
            return Err(Error::Store {
                path,
                problem: StoreProblem::TooLarge(bytes.len() as u64),
            });
        }
        Ok(Some(bytes))
    }

    fn save(&self, snapshot: &[u8]) -> Result<(), Error> {
        self.write_atomically(snapshot)
    }

    fn erase(&self) -> Result<(), Error> {
        let path = self.path();
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir).map_err(|e| self.io_error(self.dir.clone(), e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_error(path, e)),
        }
    }

    fn lock(&self) -> Result<StoreLock, Error> {
        self.ensure_dir()?;
        let path = self.lock_path();
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts
            .open(&path)
            .map_err(|e| self.io_error(path.clone(), e))?;
        FileExt::lock_exclusive(&file).map_err(|e| self.io_error(path, e))?;
        Ok(StoreLock { _file: Some(file) })
    }

    fn location(&self) -> PathBuf {
        self.path()
    }
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// A store in memory, for tests and short-lived programs (nothing survives the process).
#[derive(Debug, Default)]
pub struct MemoryStore {
    bytes: RefCell<Option<Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TokenStore for MemoryStore {
    fn load(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.bytes.borrow().clone())
    }

    fn save(&self, snapshot: &[u8]) -> Result<(), Error> {
        *self.bytes.borrow_mut() = Some(snapshot.to_vec());
        Ok(())
    }

    fn erase(&self) -> Result<(), Error> {
        *self.bytes.borrow_mut() = None;
        Ok(())
    }

    fn lock(&self) -> Result<StoreLock, Error> {
        Ok(StoreLock::none())
    }

    fn location(&self) -> PathBuf {
        PathBuf::from("(memory)")
    }
}
