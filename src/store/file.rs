//! [`FileStore`]: the session state in an SQLite file (the `file-store` feature).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};

use super::{OutgoingStage, SessionStore, StoreError, StoredMessage, StoredSession};
use crate::codec::{self, Decoded, MAX_PACKET_SIZE};
use crate::packet::{Packet, PacketId, ProtocolLevel};

/// `PRAGMA application_id` of a session store: "PGMQ". Tells a store from any other SQLite file.
const APPLICATION_ID: i32 = 0x5047_4D51;
/// `PRAGMA user_version`: the version of the layout below. Checked on open.
const FORMAT_VERSION: i64 = 1;

/// Format version 1. A PUBLISH is stored as the crate's own MQTT 5.0 encoding of the packet
/// without its payload (`head`: flags, topic, identifier, properties), and its payload apart, so
/// that a QoS 2 message past PUBREC can drop its payload in place. `crc` is the CRC-32 of the
/// row (see [`row_crc`]): SQLite keeps no checksums of its own.
const SCHEMA: &str = "
    CREATE TABLE outgoing (
        seq INTEGER PRIMARY KEY,
        stage INTEGER NOT NULL,
        packet_id INTEGER NOT NULL,
        head BLOB NOT NULL,
        payload BLOB NOT NULL,
        crc INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE incoming_qos2 (packet_id INTEGER PRIMARY KEY) STRICT;
    CREATE TABLE session (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
";

const STAGE_QUEUED: i64 = 0;
const STAGE_SENT: i64 = 1;
const STAGE_RELEASED: i64 = 2;

/// A [`SessionStore`] in a file: queued and in-flight messages, incoming QoS 2 identifiers and
/// the packet identifier state survive a crash of the process (and, with
/// [`FileStoreOptions::sync`], a power loss).
///
/// ```no_run
/// use pigeon_mqtt::store::FileStore;
/// use pigeon_mqtt::{Client, ConnectOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = FileStore::open("/var/lib/sensor/session.db")?;
/// let (client, event_loop) =
///     Client::with_store(ConnectOptions::new("127.0.0.1", 1883), Box::new(store))?;
/// # Ok(())
/// # }
/// ```
///
/// # What survives what
///
/// Changes are buffered in memory until [`commit`](SessionStore::commit), which writes all of
/// them in one SQLite transaction: after any crash the file holds either every change of a
/// commit or none of them, never a part.
///
/// - **Default** (WAL journal, `synchronous = NORMAL`): when `commit` returns, the changes are
///   in the operating system's hands, so they survive the process being killed (`kill -9`, a
///   panic with `panic = "abort"`, an out-of-memory kill). After a power loss or a crash of the
///   operating system the file is intact, but the commits of the last moments before it may be
///   missing. No sync per commit.
/// - **[`sync(true)`](FileStoreOptions::sync)** (`synchronous = FULL`): `commit` returns once
///   the changes are on the disk (an `fsync` per commit), so a commit survives a power loss too,
///   as far as the disk honours the flush. Each commit then costs a disk round trip.
///
/// # The file
///
/// One SQLite database (its write-ahead log `<path>-wal` lives beside it while the store is
/// open). It records a format version, checked by [`open`](FileStore::open), and a CRC-32 of
/// every stored message, checked on load. A PUBLISH is stored in the crate's own MQTT 5.0
/// encoding, so it comes back exactly: topic, payload, QoS, retain, DUP and properties. The
/// file is locked while open: a second store on the same file fails with
/// [`StoreError::Locked`], in this process or another.
///
/// `open` reads the whole store and checks it (SQLite's `quick_check`, every checksum, every
/// PUBLISH), so a damaged file is reported there, as [`StoreError::Corrupt`] or
/// [`StoreError::NotAStore`]; the first [`load`](SessionStore::load) then returns what `open`
/// read. An empty or missing file is a new, empty store.
pub struct FileStore {
    path: PathBuf,
    conn: Connection,
    sync: bool,
    pending: Pending,
    /// What `open` read and checked, until it is handed out or a commit changes the file.
    opened: Option<StoredSession>,
}

/// How to open a [`FileStore`]: [`FileStore::options`].
///
/// ```no_run
/// use pigeon_mqtt::store::FileStore;
/// # fn main() -> Result<(), pigeon_mqtt::store::StoreError> {
/// // Survives a power loss: one fsync per commit.
/// let store = FileStore::options().sync(true).open("session.db")?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct FileStoreOptions {
    sync: bool,
}

impl FileStoreOptions {
    /// Sync the file to the disk at every commit (`synchronous = FULL`), so that a committed
    /// change survives a power loss or an operating system crash, not only a crash of the
    /// process. Off by default. See [`FileStore`] for what each mode guarantees.
    pub fn sync(mut self, on: bool) -> FileStoreOptions {
        self.sync = on;
        self
    }

    /// Opens the store at `path`, creating the file if it does not exist (its directory must).
    pub fn open(&self, path: impl AsRef<Path>) -> Result<FileStore, StoreError> {
        FileStore::open_with(path.as_ref(), self.sync)
    }
}

impl FileStore {
    /// Opens the store at `path` with the default durability (survives a crash of the process,
    /// see [`FileStore`]), creating the file if it does not exist (its directory must).
    pub fn open(path: impl AsRef<Path>) -> Result<FileStore, StoreError> {
        FileStore::open_with(path.as_ref(), false)
    }

    /// Options for opening a store, such as the power-loss-safe [`sync`](FileStoreOptions::sync).
    pub fn options() -> FileStoreOptions {
        FileStoreOptions::default()
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_with(path: &Path, sync: bool) -> Result<FileStore, StoreError> {
        let path = path.to_path_buf();
        // The operating system's own answer first: it names the cause (permission, missing
        // directory, read-only file system) where SQLite would only say "unable to open".
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_EXRESCODE;
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| db_error(&path, e))?;
        let mut store = FileStore {
            path,
            conn,
            sync,
            pending: Pending::default(),
            opened: None,
        };
        store.configure().map_err(|e| store.classify(e))?;
        store.check_format()?;
        store.opened = Some(store.read()?);
        Ok(store)
    }

    /// Connection settings, then the write lock, taken now so that a second store on the same
    /// file fails at open.
    fn configure(&mut self) -> rusqlite::Result<()> {
        let c = &self.conn;
        // Fail at once when another store holds the file (rusqlite waits 5 s by default).
        c.busy_timeout(std::time::Duration::ZERO)?;
        // Held for as long as the store is open: one client per store. Also spares the
        // shared-memory index of the WAL, since no other connection can read.
        c.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        // Small pages: a commit of a few small records writes 1 KiB frames, not 4 KiB ones (a
        // new file only; an existing one keeps its page size).
        c.pragma_update(None, "page_size", 1024)?;
        // Write-ahead log: a commit appends to it, and a killed process loses nothing
        // committed without a sync; `FULL` syncs the log at each commit.
        c.pragma_update(None, "journal_mode", "WAL")?;
        c.pragma_update(
            None,
            "synchronous",
            if self.sync { "FULL" } else { "NORMAL" },
        )?;
        c.execute_batch("BEGIN EXCLUSIVE; COMMIT;")?;
        Ok(())
    }

    /// Creates the layout in a new file; checks who wrote an existing one, and its version.
    fn check_format(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| db_error(&path, e);
        let app: i32 = self
            .conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(err)?;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        let objects: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(err)?;
        if app == 0 && version == 0 && objects == 0 {
            let tx = self.conn.transaction().map_err(err)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(err)?;
            tx.pragma_update(None, "user_version", FORMAT_VERSION)
                .map_err(err)?;
            tx.execute_batch(SCHEMA).map_err(err)?;
            return tx.commit().map_err(|e| self.classify(e));
        }
        if app != APPLICATION_ID {
            return Err(StoreError::NotAStore {
                path: self.path.clone(),
                detail: format!(
                    "an SQLite database with application id {app:#010x}, where a session store \
                     has {APPLICATION_ID:#010x}"
                ),
            });
        }
        if version != FORMAT_VERSION {
            return Err(StoreError::IncompatibleVersion {
                path: self.path.clone(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let check: String = self
            .conn
            .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
            .map_err(err)?;
        if check != "ok" {
            return Err(self.corrupt(format!("SQLite quick_check: {check}")));
        }
        Ok(())
    }

    /// Reads and checks everything the file holds.
    fn read(&mut self) -> Result<StoredSession, StoreError> {
        let path = self.path.clone();
        let err = |e| db_error(&path, e);
        let mut session = StoredSession::default();
        {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT seq, stage, packet_id, head, payload, crc FROM outgoing ORDER BY seq",
                )
                .map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let raw = RawRow {
                    seq: row.get(0).map_err(err)?,
                    stage: row.get(1).map_err(err)?,
                    packet_id: row.get(2).map_err(err)?,
                    head: row.get(3).map_err(err)?,
                    payload: row.get(4).map_err(err)?,
                    crc: row.get(5).map_err(err)?,
                };
                let (seq, message) = raw.decode().map_err(|detail| StoreError::Corrupt {
                    path: path.clone(),
                    detail,
                })?;
                session.outgoing.push((seq, message));
            }
        }
        {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT packet_id FROM incoming_qos2 ORDER BY packet_id")
                .map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let id: i64 = row.get(0).map_err(err)?;
                session.incoming_qos2.push(packet_id(id).ok_or_else(|| {
                    self.corrupt(format!("incoming QoS 2 packet identifier {id}"))
                })?);
            }
        }
        let next: Option<i64> = self
            .conn
            .query_row(
                "SELECT value FROM session WHERE key = 'next_packet_id'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        if let Some(id) = next {
            session.next_packet_id = Some(
                packet_id(id)
                    .ok_or_else(|| self.corrupt(format!("next packet identifier {id}")))?,
            );
        }
        let next: Option<i64> = self
            .conn
            .query_row(
                "SELECT value FROM session WHERE key = 'next_message_id'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        if let Some(seq) = next {
            session.next_message_id = Some(seq_from_key(seq));
        }
        Ok(session)
    }

    /// Writes the buffered changes in one transaction. Each statement is taken from the cache
    /// once per commit, not once per row (a cache lookup hashes the SQL text).
    fn write(&mut self, puts: &[(u64, EncodedRow)]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        if self.pending.clear {
            tx.execute_batch(
                "DELETE FROM outgoing; DELETE FROM incoming_qos2;
                 DELETE FROM session WHERE key <> 'next_message_id';",
            )?;
        }
        let mut insert = Lazy::new(
            "INSERT OR REPLACE INTO outgoing (seq, stage, packet_id, head, payload, crc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        );
        let mut select = Lazy::new("SELECT head, payload FROM outgoing WHERE seq = ?1");
        let mut update = Lazy::new(
            "UPDATE outgoing SET stage = ?2, packet_id = ?3, payload = ?4, crc = ?5 WHERE seq = ?1",
        );
        let mut delete = Lazy::new("DELETE FROM outgoing WHERE seq = ?1");
        let mut puts = puts.iter();
        for (&seq, change) in &self.pending.outgoing {
            let key = seq_key(seq);
            match change {
                Change::Put(_) => {
                    // `puts` holds the encoded `Put`s in the same (key) order.
                    if let Some((_, row)) = puts.next() {
                        insert.get(&tx)?.execute(params![
                            key,
                            row.stage,
                            row.packet_id,
                            &row.head[..],
                            &row.payload[..],
                            row.crc
                        ])?;
                    }
                }
                Change::Stage(stage) => {
                    // A stage change keeps the PUBLISH, and drops the payload once released,
                    // so the checksum is computed again from the stored head.
                    let row: Option<(Vec<u8>, Vec<u8>)> = select
                        .get(&tx)?
                        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    if let Some((head, mut payload)) = row {
                        let (code, id) = stage_columns(*stage);
                        if code == STAGE_RELEASED {
                            payload.clear();
                        }
                        let crc = row_crc(seq, code, id, &head, &payload);
                        update
                            .get(&tx)?
                            .execute(params![key, code, id, payload, crc])?;
                    }
                }
                Change::Remove => {
                    delete.get(&tx)?.execute([key])?;
                }
            }
        }
        if !self.pending.incoming.is_empty() {
            let mut put =
                tx.prepare_cached("INSERT OR IGNORE INTO incoming_qos2 (packet_id) VALUES (?1)")?;
            let mut remove = tx.prepare_cached("DELETE FROM incoming_qos2 WHERE packet_id = ?1")?;
            for (&id, &present) in &self.pending.incoming {
                if present {
                    put.execute([id.get()])?;
                } else {
                    remove.execute([id.get()])?;
                }
            }
        }
        if let Some(id) = self.pending.next_packet_id {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO session (key, value) VALUES ('next_packet_id', ?1)",
            )?
            .execute([id.get()])?;
        }
        if let Some(seq) = self.pending.next_message_id {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO session (key, value) VALUES ('next_message_id', ?1)",
            )?
            .execute([seq_key(seq)])?;
        }
        drop((insert, select, update, delete));
        tx.commit()
    }

    /// A database error, with the operating system asked what it thinks of the files when
    /// SQLite could only say that it cannot open them.
    fn classify(&self, e: rusqlite::Error) -> StoreError {
        let cannot_open = matches!(
            &e,
            rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::CannotOpen
        );
        if cannot_open {
            if let Some(found) = probe(&self.path) {
                return found;
            }
        }
        db_error(&self.path, e)
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }
}

impl SessionStore for FileStore {
    fn put_outgoing(&mut self, seq: u64, message: &StoredMessage) {
        self.pending
            .outgoing
            .insert(seq, Change::Put(message.clone()));
    }

    fn set_stage(&mut self, seq: u64, stage: OutgoingStage) {
        match self.pending.outgoing.get_mut(&seq) {
            Some(Change::Put(m)) => {
                m.stage = stage;
                if matches!(stage, OutgoingStage::Released(_)) {
                    m.publish.payload = Bytes::new();
                }
            }
            Some(Change::Stage(s)) => *s = stage,
            Some(Change::Remove) => {}
            None => {
                self.pending.outgoing.insert(seq, Change::Stage(stage));
            }
        }
    }

    fn remove_outgoing(&mut self, seq: u64) {
        self.pending.outgoing.insert(seq, Change::Remove);
    }

    fn put_incoming_qos2(&mut self, id: PacketId) {
        self.pending.incoming.insert(id, true);
    }

    fn remove_incoming_qos2(&mut self, id: PacketId) {
        self.pending.incoming.insert(id, false);
    }

    fn set_next_packet_id(&mut self, id: PacketId) {
        self.pending.next_packet_id = Some(id);
    }

    fn set_next_message_id(&mut self, seq: u64) {
        self.pending.next_message_id = Some(seq);
    }

    fn clear(&mut self) {
        self.pending = Pending {
            clear: true,
            next_message_id: self.pending.next_message_id,
            ..Pending::default()
        };
    }

    /// Writes every change since the last commit in one transaction (see [`FileStore`] for
    /// what survives what). Nothing to write is not a transaction. On an error nothing of the
    /// commit is in the file, and the changes stay buffered for the next commit; a message
    /// that cannot be encoded ([`StoreError::Unstorable`]) is dropped from the buffer first.
    fn commit(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut puts = Vec::with_capacity(self.pending.outgoing.len());
        let mut unstorable = None;
        for (&seq, change) in &self.pending.outgoing {
            if let Change::Put(m) = change {
                match EncodedRow::new(seq, m) {
                    Ok(row) => puts.push((seq, row)),
                    Err(source) => {
                        unstorable = Some((seq, source));
                        break;
                    }
                }
            }
        }
        if let Some((seq, source)) = unstorable {
            self.pending.outgoing.remove(&seq);
            return Err(StoreError::Unstorable {
                path: self.path.clone(),
                seq,
                source,
            });
        }
        self.write(&puts).map_err(|e| self.classify(e))?;
        self.pending = Pending::default();
        self.opened = None;
        Ok(())
    }

    fn load(&mut self) -> Result<StoredSession, StoreError> {
        match self.opened.take() {
            Some(session) => Ok(session),
            None => self.read(),
        }
    }
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .field("sync", &self.sync)
            .field("pending_changes", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// A statement of [`FileStore::write`], taken from the connection's cache when first needed.
struct Lazy<'c> {
    sql: &'static str,
    stmt: Option<rusqlite::CachedStatement<'c>>,
}

impl<'c> Lazy<'c> {
    fn new(sql: &'static str) -> Lazy<'c> {
        Lazy { sql, stmt: None }
    }

    fn get(
        &mut self,
        conn: &'c Connection,
    ) -> rusqlite::Result<&mut rusqlite::CachedStatement<'c>> {
        match &mut self.stmt {
            Some(stmt) => Ok(stmt),
            slot => Ok(slot.insert(conn.prepare_cached(self.sql)?)),
        }
    }
}

/// The changes since the last commit, the last change of each key winning.
#[derive(Debug, Default)]
struct Pending {
    /// Everything stored before was forgotten (the changes below came after).
    clear: bool,
    outgoing: BTreeMap<u64, Change>,
    /// `true`: stored, `false`: removed.
    incoming: BTreeMap<PacketId, bool>,
    next_packet_id: Option<PacketId>,
    next_message_id: Option<u64>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        !self.clear
            && self.outgoing.is_empty()
            && self.incoming.is_empty()
            && self.next_packet_id.is_none()
            && self.next_message_id.is_none()
    }

    fn len(&self) -> usize {
        usize::from(self.clear)
            + self.outgoing.len()
            + self.incoming.len()
            + usize::from(self.next_packet_id.is_some())
            + usize::from(self.next_message_id.is_some())
    }
}

#[derive(Debug)]
enum Change {
    Put(StoredMessage),
    Stage(OutgoingStage),
    Remove,
}

/// A message ready for its row.
struct EncodedRow {
    stage: i64,
    packet_id: i64,
    head: BytesMut,
    payload: Bytes,
    crc: i64,
}

impl EncodedRow {
    fn new(seq: u64, m: &StoredMessage) -> Result<EncodedRow, crate::error::EncodeError> {
        let mut publish = m.publish.clone();
        let payload = std::mem::take(&mut publish.payload);
        let mut head = BytesMut::new();
        codec::encode(
            &Packet::Publish(publish),
            ProtocolLevel::V5,
            MAX_PACKET_SIZE,
            &mut head,
        )?;
        let (stage, packet_id) = stage_columns(m.stage);
        let crc = row_crc(seq, stage, packet_id, &head, &payload);
        Ok(EncodedRow {
            stage,
            packet_id,
            head,
            payload,
            crc,
        })
    }
}

/// A row as read, not yet checked.
struct RawRow {
    seq: i64,
    stage: i64,
    packet_id: i64,
    head: Vec<u8>,
    payload: Vec<u8>,
    crc: i64,
}

impl RawRow {
    fn decode(self) -> Result<(u64, StoredMessage), String> {
        let seq = seq_from_key(self.seq);
        let crc = row_crc(seq, self.stage, self.packet_id, &self.head, &self.payload);
        if crc != self.crc {
            return Err(format!("message {seq} fails its checksum"));
        }
        let stage = match (self.stage, packet_id(self.packet_id)) {
            (STAGE_QUEUED, _) => OutgoingStage::Queued,
            (STAGE_SENT, Some(id)) => OutgoingStage::Sent(id),
            (STAGE_RELEASED, Some(id)) => OutgoingStage::Released(id),
            (stage, _) => {
                return Err(format!(
                    "message {seq}: stage {stage} with packet identifier {}",
                    self.packet_id
                ))
            }
        };
        let mut buf = BytesMut::from(&self.head[..]);
        let mut publish = match codec::decode(&mut buf, ProtocolLevel::V5, MAX_PACKET_SIZE) {
            Ok(Decoded::Packet(Packet::Publish(p))) if buf.is_empty() => p,
            Ok(_) => return Err(format!("message {seq} is not one whole PUBLISH")),
            Err(e) => return Err(format!("message {seq}: {e}")),
        };
        publish.payload = Bytes::from(self.payload);
        Ok((seq, StoredMessage { publish, stage }))
    }
}

/// SQLite integers are signed: a sequence number is stored with its top bit flipped, so that
/// the keys sort as the sequence numbers do (0 is `i64::MIN`, `u64::MAX` is `i64::MAX`).
fn seq_key(seq: u64) -> i64 {
    i64::from_be_bytes((seq ^ SEQ_FLIP).to_be_bytes())
}

fn seq_from_key(key: i64) -> u64 {
    u64::from_be_bytes(key.to_be_bytes()) ^ SEQ_FLIP
}

const SEQ_FLIP: u64 = 1 << 63;

fn stage_columns(stage: OutgoingStage) -> (i64, i64) {
    match stage {
        OutgoingStage::Queued => (STAGE_QUEUED, 0),
        OutgoingStage::Sent(id) => (STAGE_SENT, i64::from(id.get())),
        OutgoingStage::Released(id) => (STAGE_RELEASED, i64::from(id.get())),
    }
}

fn packet_id(v: i64) -> Option<PacketId> {
    u16::try_from(v).ok().and_then(PacketId::new)
}

/// CRC-32 of a row: its sequence number, stage, identifier, head (length first) and payload.
fn row_crc(seq: u64, stage: i64, packet_id: i64, head: &[u8], payload: &[u8]) -> i64 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_be_bytes());
    h.update(&stage.to_be_bytes());
    h.update(&packet_id.to_be_bytes());
    h.update(&(head.len() as u64).to_be_bytes());
    h.update(head);
    h.update(payload);
    i64::from(h.finalize())
}

/// What the operating system says about opening the store's file and creating its log beside
/// it, when that fails.
fn probe(path: &Path) -> Option<StoreError> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    for (p, existed) in [(path, true), (wal.as_path(), wal.exists())] {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(p)
        {
            Err(e) => return Some(io_error(path, e)),
            Ok(_) if !existed => {
                let _ = std::fs::remove_file(p);
            }
            Ok(_) => {}
        }
    }
    None
}

fn io_error(path: &Path, e: std::io::Error) -> StoreError {
    use std::io::ErrorKind;
    let path = path.to_path_buf();
    match e.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
            StoreError::PermissionDenied {
                path,
                source: Arc::new(e),
            }
        }
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => StoreError::DiskFull {
            path,
            source: Arc::new(e),
        },
        _ => StoreError::Io {
            path,
            source: Arc::new(e),
        },
    }
}

fn db_error(path: &Path, e: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    match code {
        Some(ErrorCode::DiskFull) => StoreError::DiskFull {
            path,
            source: Arc::new(e),
        },
        Some(ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => StoreError::PermissionDenied {
            path,
            source: Arc::new(e),
        },
        Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => StoreError::Io {
            path,
            source: Arc::new(e),
        },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path,
            detail: e.to_string(),
        },
        Some(ErrorCode::NotADatabase) => StoreError::NotAStore {
            path,
            detail: e.to_string(),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked { path },
        _ => StoreError::Database {
            path,
            source: Arc::new(e),
        },
    }
}
