//! `FileStore` (the `file-store` feature): what goes in comes back, after a drop, after a
//! SIGKILL between commits, and a damaged, foreign, locked or unwritable file is a typed error,
//! never a panic.

mod support;

use std::io::{BufRead, BufReader};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use pigeon_mqtt::packet::{MqttString, PacketId, Properties, Property, Publish, QosPid};
use pigeon_mqtt::store::{
    FileStore, OutgoingStage, SessionStore, StoreError, StoredMessage, StoredSession,
};
use pigeon_mqtt::topic::TopicName;
use support::is_root;

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

fn mqtt(s: &'static str) -> MqttString {
    MqttString::from_static(s)
}

/// A PUBLISH with every field set to something other than its default.
fn full_publish(qos: QosPid, payload: impl Into<Bytes>) -> Publish {
    let properties = Properties::new()
        .with(Property::PayloadFormatIndicator(true))
        .with(Property::MessageExpiryInterval(3600))
        .with(Property::ContentType(mqtt("application/json")))
        .with(Property::ResponseTopic(mqtt("reply/here")))
        .with(Property::CorrelationData(Bytes::from_static(&[
            0, 1, 2, 255,
        ])))
        .with(Property::SubscriptionIdentifier(
            NonZeroU32::new(268_435_455).unwrap(),
        ))
        .with(Property::UserProperty(mqtt("k"), mqtt("v1")))
        .with(Property::UserProperty(mqtt("k"), mqtt("v2")))
        .with(Property::UserProperty(mqtt("ünïcödé"), mqtt("")));
    Publish {
        dup: true,
        qos,
        retain: true,
        topic: TopicName::new("sensors/ünïcödé/temp").unwrap(),
        properties,
        payload: payload.into(),
    }
}

fn plain(topic: &str, qos: QosPid, payload: Vec<u8>) -> Publish {
    Publish {
        qos,
        ..Publish::new(TopicName::new(topic).unwrap(), payload)
    }
}

fn msg(publish: Publish, stage: OutgoingStage) -> StoredMessage {
    StoredMessage { publish, stage }
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn every_field_round_trips_through_the_file() {
    let d = dir();
    let path = d.path().join("session.db");
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let big: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut expected = StoredSession {
        outgoing: vec![
            // Queued: the identifier is a placeholder, the QoS is what matters.
            (
                0,
                msg(
                    full_publish(QosPid::ExactlyOnce(pid(1)), binary.clone()),
                    OutgoingStage::Queued,
                ),
            ),
            (
                1,
                msg(
                    full_publish(QosPid::AtLeastOnce(pid(65_535)), ""),
                    OutgoingStage::Sent(pid(65_535)),
                ),
            ),
            (
                7,
                msg(
                    plain("a", QosPid::ExactlyOnce(pid(9)), big),
                    OutgoingStage::Sent(pid(9)),
                ),
            ),
            (
                u64::MAX,
                msg(
                    plain("last", QosPid::AtLeastOnce(pid(2)), vec![0]),
                    OutgoingStage::Sent(pid(2)),
                ),
            ),
        ],
        incoming_qos2: vec![pid(1), pid(300), pid(65_535)],
        next_packet_id: Some(pid(40_000)),
        next_message_id: Some(u64::MAX),
    };
    {
        let mut store = FileStore::open(&path).unwrap();
        assert_eq!(store.load().unwrap(), StoredSession::default());
        for (seq, m) in &expected.outgoing {
            store.put_outgoing(*seq, m);
        }
        for id in [pid(300), pid(65_535), pid(1)] {
            store.put_incoming_qos2(id);
        }
        store.set_next_packet_id(pid(40_000));
        store.set_next_message_id(u64::MAX);
        store.commit().unwrap();
        assert_eq!(store.load().unwrap(), expected);
    }
    let mut store = FileStore::open(&path).unwrap();
    assert_eq!(store.load().unwrap(), expected);

    // A QoS 2 message past PUBREC keeps its PUBLISH without the payload, in a later commit
    // and in the same one as its put.
    store.set_stage(7, OutgoingStage::Released(pid(9)));
    let mut fresh = full_publish(QosPid::ExactlyOnce(pid(10)), "gone");
    store.put_outgoing(8, &msg(fresh.clone(), OutgoingStage::Sent(pid(10))));
    store.set_stage(8, OutgoingStage::Released(pid(10)));
    store.commit().unwrap();
    drop(store);
    expected.outgoing[2].1.stage = OutgoingStage::Released(pid(9));
    expected.outgoing[2].1.publish.payload = Bytes::new();
    fresh.payload = Bytes::new();
    expected
        .outgoing
        .insert(3, (8, msg(fresh, OutgoingStage::Released(pid(10)))));
    assert_eq!(FileStore::open(&path).unwrap().load().unwrap(), expected);
}

#[test]
fn removals_and_clear_are_durable() {
    let d = dir();
    let path = d.path().join("s.db");
    let mut store = FileStore::open(&path).unwrap();
    for seq in 0..10 {
        let p = plain("t", QosPid::AtLeastOnce(pid(1)), vec![seq as u8]);
        store.put_outgoing(seq, &msg(p, OutgoingStage::Queued));
    }
    store.put_incoming_qos2(pid(4));
    store.put_incoming_qos2(pid(5));
    store.set_next_packet_id(pid(11));
    store.set_next_message_id(10);
    store.commit().unwrap();
    for seq in (0..10).filter(|s| s % 2 == 0) {
        store.remove_outgoing(seq);
    }
    store.remove_incoming_qos2(pid(4));
    store.commit().unwrap();
    drop(store);

    let mut store = FileStore::open(&path).unwrap();
    let s = store.load().unwrap();
    let seqs: Vec<u64> = s.outgoing.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [1, 3, 5, 7, 9]);
    assert_eq!(s.incoming_qos2, [pid(5)]);
    assert_eq!(s.next_packet_id, Some(pid(11)));

    assert_eq!(s.next_message_id, Some(10));

    // clear() forgets everything committed before it but the next message id (ids go on
    // across sessions); what comes after it in the same commit stays.
    store.clear();
    let after = plain("after", QosPid::ExactlyOnce(pid(3)), b"x".to_vec());
    store.put_outgoing(20, &msg(after.clone(), OutgoingStage::Sent(pid(3))));
    store.commit().unwrap();
    drop(store);
    let s = FileStore::open(&path).unwrap().load().unwrap();
    assert_eq!(s.outgoing, [(20, msg(after, OutgoingStage::Sent(pid(3))))]);
    assert!(s.incoming_qos2.is_empty());
    assert_eq!(s.next_packet_id, None);
    assert_eq!(s.next_message_id, Some(10));
}

#[test]
fn only_committed_changes_survive_and_a_failed_commit_writes_nothing() {
    let d = dir();
    let path = d.path().join("s.db");
    let good = plain("good", QosPid::AtLeastOnce(pid(1)), b"1".to_vec());
    let mut store = FileStore::open(&path).unwrap();
    store.put_outgoing(1, &msg(good.clone(), OutgoingStage::Sent(pid(1))));
    store.commit().unwrap();
    // Not committed: gone with the store.
    store.put_outgoing(2, &msg(good.clone(), OutgoingStage::Queued));
    store.remove_outgoing(1);
    assert_eq!(
        store.load().unwrap().outgoing.len(),
        1,
        "load shows the last commit"
    );
    drop(store);
    let mut store = FileStore::open(&path).unwrap();
    assert_eq!(
        store.load().unwrap().outgoing,
        [(1, msg(good.clone(), OutgoingStage::Sent(pid(1))))]
    );

    // A commit with a message that cannot be encoded (a single-instance property twice) fails
    // as a whole: neither the removal nor the good message before it is written.
    let mut bad = good.clone();
    bad.properties.push(Property::MessageExpiryInterval(1));
    bad.properties.push(Property::MessageExpiryInterval(2));
    store.remove_outgoing(1);
    store.put_outgoing(2, &msg(good.clone(), OutgoingStage::Queued));
    store.put_outgoing(3, &msg(bad, OutgoingStage::Queued));
    let e = store.commit().unwrap_err();
    assert!(matches!(e, StoreError::Unstorable { seq: 3, .. }), "{e:?}");
    assert!(std::error::Error::source(&e).is_some());
    assert_eq!(
        store.load().unwrap().outgoing,
        [(1, msg(good.clone(), OutgoingStage::Sent(pid(1))))]
    );
    // The unstorable message left the buffer; the next commit writes the rest.
    store.commit().unwrap();
    drop(store);
    assert_eq!(
        FileStore::open(&path).unwrap().load().unwrap().outgoing,
        [(2, msg(good, OutgoingStage::Queued))]
    );
}

#[test]
fn power_loss_safe_mode_stores_the_same() {
    let d = dir();
    let path = d.path().join("s.db");
    let p = full_publish(QosPid::AtLeastOnce(pid(5)), "synced");
    let mut store = FileStore::options().sync(true).open(&path).unwrap();
    store.put_outgoing(5, &msg(p.clone(), OutgoingStage::Sent(pid(5))));
    store.commit().unwrap();
    drop(store);
    assert_eq!(
        FileStore::open(&path).unwrap().load().unwrap().outgoing,
        [(5, msg(p, OutgoingStage::Sent(pid(5))))]
    );
}

#[test]
fn a_second_store_on_the_same_file_is_refused() {
    let d = dir();
    let path = d.path().join("s.db");
    let _first = FileStore::open(&path).unwrap();
    let e = FileStore::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Locked { .. }), "{e:?}");
    assert!(e.to_string().contains("s.db"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// A process killed between (and during) commits
// ---------------------------------------------------------------------------------------------

const CHILD_ENV: &str = "PIGEON_FILE_STORE_CHILD";
/// Messages put (and older ones removed) per commit in the child.
const PER_COMMIT: u64 = 10;
/// Messages kept in the store: older ones are removed.
const WINDOW: u64 = 50;

/// What the store holds after `turns` commits of the child.
fn after_turns(turns: u64) -> StoredSession {
    let end = turns * PER_COMMIT;
    let outgoing = (end.saturating_sub(WINDOW)..end)
        .map(|seq| (seq, child_message(seq)))
        .collect();
    StoredSession {
        outgoing,
        incoming_qos2: if turns == 0 {
            vec![]
        } else {
            vec![pid((turns % 60_000 + 1) as u16)]
        },
        next_packet_id: (turns > 0).then(|| pid((turns % 60_000 + 2) as u16)),
        next_message_id: None,
    }
}

fn child_message(seq: u64) -> StoredMessage {
    let id = pid((seq % 65_535 + 1) as u16);
    let payload: Vec<u8> = (0..100 + seq % 100).map(|i| (seq + i) as u8).collect();
    msg(
        plain(&format!("crash/{seq}"), QosPid::ExactlyOnce(id), payload),
        OutgoingStage::Sent(id),
    )
}

/// The child: commits turn after turn from where the store stands, printing each turn number
/// once it is committed, until it is killed (or, as a safeguard, after a minute).
fn child(path: &Path) {
    let mut store = FileStore::open(path).unwrap();
    let stored = store.load().unwrap();
    let mut turn = stored
        .outgoing
        .last()
        .map_or(0, |(seq, _)| seq / PER_COMMIT + 1);
    let started = std::time::Instant::now();
    while started.elapsed().as_secs() < 60 {
        turn += 1;
        let end = turn * PER_COMMIT;
        for seq in end - PER_COMMIT..end {
            store.put_outgoing(seq, &child_message(seq));
            if seq >= WINDOW {
                store.remove_outgoing(seq - WINDOW);
            }
        }
        store.remove_incoming_qos2(pid(((turn - 1) % 60_000 + 1) as u16));
        store.put_incoming_qos2(pid((turn % 60_000 + 1) as u16));
        store.set_next_packet_id(pid((turn % 60_000 + 2) as u16));
        store.commit().unwrap();
        println!("committed {turn}");
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn every_commit_survives_a_sigkill_and_none_is_torn() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&path));
        return;
    }
    let d = dir();
    let path = d.path().join("crash.db");
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut turns_seen = 0;
    for kill in 0..8 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let wait_for = 1 + rng % 40;
        let mut child = KillOnDrop(
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "every_commit_survives_a_sigkill_and_none_is_torn",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, &path)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );
        let out = child.0.stdout.take().unwrap();
        let mut last = None;
        let mut lines = BufReader::new(out).lines();
        let mut seen = 0;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("committed ") {
                last = Some(n.parse::<u64>().unwrap());
                seen += 1;
                if seen == wait_for {
                    break;
                }
            }
        }
        let last = last.expect("the child committed nothing: see its output above");
        // SIGKILL, most likely in the middle of the next commit.
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        // Lines still in the pipe were committed too.
        let last = lines
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("committed ").and_then(|n| n.parse().ok()))
            .last()
            .unwrap_or(last);

        let stored = FileStore::open(&path).unwrap().load().unwrap();
        let turns = stored
            .outgoing
            .last()
            .map_or(0, |(seq, _)| seq / PER_COMMIT + 1);
        assert!(
            turns >= last,
            "kill {kill}: turn {last} was committed, the store holds {turns}"
        );
        assert!(turns <= last + 1, "kill {kill}: {turns} after {last}");
        assert_eq!(stored, after_turns(turns), "kill {kill}: a torn commit");
        assert!(turns > turns_seen, "kill {kill}: no progress");
        turns_seen = turns;
    }
}

// ---------------------------------------------------------------------------------------------
// Damaged, foreign and unreachable files
// ---------------------------------------------------------------------------------------------

/// A closed store with some of everything in it, and what it holds.
fn sample_store(path: &Path) -> StoredSession {
    let mut store = FileStore::open(path).unwrap();
    for seq in 0..60u64 {
        let id = pid(seq as u16 + 1);
        let payload: Vec<u8> = (0..150).map(|i| (seq * 3 + i) as u8).collect();
        store.put_outgoing(
            seq,
            &msg(
                full_publish(QosPid::ExactlyOnce(id), payload),
                OutgoingStage::Sent(id),
            ),
        );
        if seq % 10 == 9 {
            store.commit().unwrap();
        }
    }
    for seq in 0..20 {
        store.remove_outgoing(seq);
    }
    store.put_incoming_qos2(pid(77));
    store.set_next_packet_id(pid(61));
    store.commit().unwrap();
    let session = store.load().unwrap();
    drop(store);
    // Closed: the log is folded into the file.
    assert!(!wal(path).exists());
    session
}

fn wal(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

fn open_and_load(path: &Path) -> Result<StoredSession, StoreError> {
    FileStore::open(path)?.load()
}

#[test]
fn a_damaged_file_is_an_error_at_open_never_a_panic_or_wrong_data() {
    let d = dir();
    let pristine = d.path().join("pristine.db");
    let expected = sample_store(&pristine);
    let original = std::fs::read(&pristine).unwrap();
    let len = original.len();
    assert!(len > 8 * 1024, "{len}");
    let case = d.path().join("case.db");
    let try_case = |bytes: &[u8]| {
        let _ = std::fs::remove_file(wal(&case));
        std::fs::write(&case, bytes).unwrap();
        open_and_load(&case)
    };

    // Damage that must be reported.
    let mut must_fail: Vec<(String, Vec<u8>)> = vec![
        ("truncated to 100 bytes".into(), original[..100].to_vec()),
        ("truncated to half".into(), original[..len / 2].to_vec()),
        ("header overwritten".into(), {
            let mut b = original.clone();
            b[..64].iter_mut().for_each(|x| *x ^= 0x5A);
            b
        }),
        ("random bytes".into(), {
            let mut r: u64 = 88_172_645_463_325_252;
            (0..len)
                .map(|_| {
                    r ^= r << 13;
                    r ^= r >> 7;
                    r ^= r << 17;
                    r as u8
                })
                .collect()
        }),
        ("text".into(), b"not a database\n".repeat(200)),
    ];
    // One flipped byte in every stored payload (and in any stale copy of it in free space):
    // SQLite does not notice, the checksums do.
    for (_, m) in &expected.outgoing {
        let payload = &m.publish.payload[..];
        let copies: Vec<usize> = original
            .windows(payload.len())
            .enumerate()
            .filter(|(_, w)| *w == payload)
            .map(|(at, _)| at)
            .collect();
        assert!(
            !copies.is_empty(),
            "payload of {} not found",
            m.publish.topic
        );
        let mut b = original.clone();
        for at in copies {
            b[at + 70] ^= 0x01;
        }
        must_fail.push((format!("a payload byte of {}", m.publish.topic), b));
    }
    for (what, bytes) in &must_fail {
        match try_case(bytes) {
            Err(StoreError::Corrupt { path, .. } | StoreError::NotAStore { path, .. }) => {
                assert_eq!(path, case, "{what}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }

    // A sweep of truncations and flipped bytes over the whole file: an error, or (where the
    // damage hit unused space) exactly what was stored. Never a panic, never other data.
    let mut errors = 0;
    let mut cases = 0;
    let step = 97;
    for cut in (0..len).step_by(step * 4) {
        if cut == 0 {
            continue;
        }
        cases += 1;
        match try_case(&original[..cut]) {
            Ok(s) => assert_eq!(s, expected, "truncated to {cut}"),
            Err(_) => errors += 1,
        }
    }
    for at in (0..len).step_by(step) {
        let mut b = original.clone();
        b[at] ^= 0xFF;
        cases += 1;
        match try_case(&b) {
            Ok(s) => assert_eq!(s, expected, "byte {at} flipped"),
            Err(e) => {
                errors += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert!(errors > cases / 4, "{errors} errors in {cases} cases");
}

#[test]
fn an_empty_file_is_a_new_store() {
    let d = dir();
    let path = d.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    assert_eq!(open_and_load(&path).unwrap(), StoredSession::default());
}

#[test]
fn another_programs_database_or_another_format_version_is_refused() {
    let d = dir();
    let foreign = d.path().join("foreign.db");
    {
        let c = rusqlite::Connection::open(&foreign).unwrap();
        c.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let e = open_and_load(&foreign).unwrap_err();
    assert!(matches!(e, StoreError::NotAStore { .. }), "{e:?}");
    assert!(e.to_string().contains("foreign.db"), "{e}");

    // user_version, at offset 60 of the SQLite header, is the format version.
    let path = d.path().join("future.db");
    sample_store(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[60..64], &1u32.to_be_bytes());
    bytes[60..64].copy_from_slice(&99u32.to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let e = open_and_load(&path).unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::IncompatibleVersion {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn a_missing_directory_is_an_io_error_naming_the_path() {
    let d = dir();
    let path = d.path().join("no/such/dir/s.db");
    let e = FileStore::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("no/such/dir/s.db"), "{e}");
    let source = std::error::Error::source(&e).unwrap();
    let io = source.downcast_ref::<std::io::Error>().unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
}

const UNPRIVILEGED_ENV: &str = "PIGEON_FILE_STORE_UNPRIVILEGED";

/// The checks of [`a_read_only_directory_or_file_is_a_permission_error`], run by a user whom
/// the permission bits bind.
fn read_only_checks(base: &Path) {
    // A store to be created in a directory that is not writable.
    let e = FileStore::open(base.join("ro-dir/new.db")).unwrap_err();
    assert!(matches!(e, StoreError::PermissionDenied { .. }), "{e:?}");
    assert!(e.to_string().contains("permission denied"), "{e}");
    // An existing store that is not writable.
    let e = FileStore::open(base.join("ro-file.db")).unwrap_err();
    assert!(matches!(e, StoreError::PermissionDenied { .. }), "{e:?}");
    // A writable store in a directory where its log cannot be created.
    let e = FileStore::open(base.join("ro-dir/existing.db")).unwrap_err();
    assert!(matches!(e, StoreError::PermissionDenied { .. }), "{e:?}");
}

#[test]
fn a_read_only_directory_or_file_is_a_permission_error() {
    use std::os::unix::fs::PermissionsExt;
    if let Some(base) = std::env::var_os(UNPRIVILEGED_ENV) {
        read_only_checks(Path::new(&base));
        return;
    }
    let d = dir();
    let base = d.path();
    let ro_dir = base.join("ro-dir");
    std::fs::create_dir(&ro_dir).unwrap();
    sample_store(&ro_dir.join("existing.db"));
    sample_store(&base.join("ro-file.db"));
    let mode = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(&ro_dir.join("existing.db"), 0o666).unwrap();
    mode(&ro_dir, 0o555).unwrap();
    mode(&base.join("ro-file.db"), 0o444).unwrap();
    mode(base, 0o755).unwrap();
    if !is_root() {
        read_only_checks(base);
        return;
    }
    // Permission bits do not bind root: run the checks again in this test executable as the
    // unprivileged user `nobody` (setpriv is in util-linux, on every Debian system).
    let status = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_read_only_directory_or_file_is_a_permission_error",
            "--nocapture",
        ])
        .env(UNPRIVILEGED_ENV, base)
        .status()
        .expect("setpriv (util-linux) runs the check as an unprivileged user: apt-get install -y util-linux");
    assert!(status.success(), "the unprivileged run failed: {status}");
}

#[test]
fn errors_name_the_file_and_what_to_check() {
    let e = StoreError::Corrupt {
        path: "/data/s.db".into(),
        detail: "message 3 fails its checksum".into(),
    };
    let text = e.to_string();
    assert!(text.contains("/data/s.db") && text.contains("checksum") && text.contains("backup"));
    // Clone keeps the source.
    let io = StoreError::DiskFull {
        path: "/data/s.db".into(),
        source: std::sync::Arc::new(std::io::Error::from(std::io::ErrorKind::StorageFull)),
    };
    let copy = io.clone();
    assert!(std::error::Error::source(&copy).is_some());
    assert!(copy.to_string().contains("free some disk space"));
}
