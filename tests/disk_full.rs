//! A real full disk under a durable publisher: a [`FileStore`] on a 1 MiB tmpfs, real Mosquitto,
//! and a file that takes every free byte. `enqueue` must answer with
//! [`StoreError::DiskFull`] (never a panic, never a hang), a refused message must never be sent
//! (the error means "not taken"), every message that was taken must arrive, and once there is
//! room again the publisher goes on. Opening a new store on the full disk is a typed error too.
//!
//! Mounting the tmpfs needs root or password-less sudo (`scripts/test.sh` runs as root in CI);
//! without it the test fails and says so.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pigeon_mqtt::store::{FileStore, StoreError};
use pigeon_mqtt::{
    Client, ConnectOptions, Event, Message, ProtocolLevel, PublishError, QoS, ReconnectOptions,
};
use support::Mosquitto;

const WAIT: Duration = Duration::from_secs(20);
const PAYLOAD: usize = 2048;

/// A tmpfs of a fixed size, mounted on a fresh directory and unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().expect("temp dir");
        // Owned by whoever runs the test, so the store can write to it.
        let (uid, gid) = support::ids();
        let options = format!("size={size},uid={uid},gid={gid}");
        let out = privileged("mount")
            .args(["-t", "tmpfs", "-o", &options, "pigeon-disk-full"])
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            out.status.success(),
            "this test mounts a {size} tmpfs to fill it and needs root or password-less sudo \
             (`bash scripts/test.sh` runs as root in CI): mount said: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the disk has no room left, then gives back `slack` bytes of it;
    /// returns its path.
    fn fill(&self, name: &str, slack: u64) -> PathBuf {
        let path = self.path().join(name);
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 4096];
        loop {
            if let Err(e) = f.write_all(&chunk).and_then(|()| f.flush()) {
                assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
                let len = f.metadata().expect("filler size").len();
                f.set_len(len.saturating_sub(slack))
                    .expect("truncate the filler");
                return path;
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = privileged("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// `program` as root: directly when the test runs as root, else through `sudo -n`.
fn privileged(program: &str) -> Command {
    if support::is_root() {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", program]);
        c
    }
}

fn options(broker: &Mosquitto, id: &str) -> ConnectOptions {
    ConnectOptions::from_url(&broker.url())
        .expect("url")
        .client_id(id)
        .protocol(ProtocolLevel::V5)
        .reconnect(
            ReconnectOptions::default()
                .backoff(Duration::from_millis(20), Duration::from_millis(100)),
        )
}

fn message(label: &str) -> Message {
    let mut payload = label.as_bytes().to_vec();
    payload.push(b' ');
    payload.resize(PAYLOAD, b'.');
    Message::new("disk/full", payload)
        .expect("topic")
        .qos(QoS::AtLeastOnce)
}

fn label(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_enqueue_and_loses_nothing_it_took() {
    let disk = SmallDisk::mount("1m");
    let broker = Mosquitto::start();

    // The subscriber collects what arrives.
    let (sub, mut sub_loop) = Client::new(options(&broker, "disk-full-sub"));
    tokio::time::timeout(WAIT, sub_loop.connect())
        .await
        .expect("connect answers")
        .expect("subscriber connects");
    let mut received = sub_loop.into_messages();
    tokio::time::timeout(WAIT, sub.subscribe("disk/full", QoS::AtLeastOnce))
        .await
        .expect("subscribe answers")
        .expect("subscribe");

    let store = FileStore::open(disk.path().join("session.db")).expect("open the store");
    let (client, mut eventloop) =
        Client::with_store(options(&broker, "disk-full-pub"), Box::new(store)).expect("client");
    tokio::time::timeout(WAIT, eventloop.connect())
        .await
        .expect("connect answers")
        .expect("publisher connects");
    let publisher = tokio::spawn(async move {
        let mut store_losses = 0;
        while let Ok(event) = eventloop.poll().await {
            if let Event::ConnectionLost { error, .. } = event {
                if matches!(error, pigeon_mqtt::ConnectionError::Store(_)) {
                    store_losses += 1;
                }
            }
        }
        store_losses
    });

    let (mut taken, mut refused, mut tokens) = (BTreeSet::new(), BTreeSet::new(), Vec::new());
    for i in 0..20 {
        let label = format!("before{i}");
        let q = tokio::time::timeout(WAIT, client.enqueue(message(&label)))
            .await
            .expect("enqueue answers")
            .expect("stored");
        taken.insert(label);
        tokens.push(q.token);
    }
    // The disk fills up while the publisher runs: 128 KiB are left, then none.
    let filler = disk.fill("filler", 128 * 1024);
    let mut consecutive_refusals = 0;
    for i in 0..5000 {
        let label = format!("m{i}");
        let answer = tokio::time::timeout(WAIT, client.enqueue(message(&label)))
            .await
            .expect("enqueue answers on a full disk");
        match answer {
            Ok(q) => {
                consecutive_refusals = 0;
                taken.insert(label);
                tokens.push(q.token);
            }
            Err(PublishError::Store(StoreError::DiskFull { path, .. })) => {
                assert!(path.ends_with("session.db"), "{}", path.display());
                consecutive_refusals += 1;
                refused.insert(label);
                if consecutive_refusals == 5 {
                    break;
                }
            }
            Err(other) => panic!("expected DiskFull, got {other:?} ({other})"),
        }
    }
    assert!(
        consecutive_refusals == 5,
        "the store never reported a full disk ({} messages taken)",
        taken.len()
    );

    // A new store cannot even be created on the full disk: a typed error, not a panic. (What
    // the failed commits left free is taken first.)
    let rest = disk.fill("rest", 0);
    match FileStore::open(disk.path().join("another.db")) {
        Err(StoreError::DiskFull { path, .. }) => assert!(path.ends_with("another.db")),
        Err(other) => panic!("expected DiskFull at open, got {other:?} ({other})"),
        Ok(_) => panic!("a store was created on a full disk"),
    }

    // Room again: the publisher goes on.
    std::fs::remove_file(filler).expect("remove the filler");
    std::fs::remove_file(rest).expect("remove the rest");
    for i in 0..10 {
        let label = format!("after{i}");
        let q = tokio::time::timeout(WAIT, client.enqueue(message(&label)))
            .await
            .expect("enqueue answers")
            .unwrap_or_else(|e| panic!("{label}: the disk has room again, yet: {e}"));
        taken.insert(label);
        tokens.push(q.token);
    }
    for token in tokens {
        tokio::time::timeout(WAIT, token)
            .await
            .expect("a taken message completes")
            .expect("acknowledged");
    }

    // Everything taken arrives; nothing refused does. Messages of one publisher arrive in order,
    // so once "after9" is in, a refused message sent before it would be too.
    let mut seen = BTreeSet::new();
    while !seen.contains("after9") {
        let m = tokio::time::timeout(WAIT, received.recv())
            .await
            .expect("the subscriber receives")
            .expect("the subscriber's loop runs");
        seen.insert(label(m.payload()));
    }
    let missing: Vec<_> = taken.difference(&seen).collect();
    assert!(missing.is_empty(), "taken but never received: {missing:?}");
    let sent_anyway: Vec<_> = refused.intersection(&seen).collect();
    assert!(sent_anyway.is_empty(), "refused, yet sent: {sent_anyway:?}");

    client.disconnect().await.expect("disconnect");
    let store_losses = publisher.await.expect("publisher loop");
    eprintln!(
        "full disk: {} taken ({} while the disk filled), {} refused with DiskFull, {} connections ended by the store, all \
         taken received, none refused sent",
        taken.len(),
        taken.iter().filter(|l| l.starts_with('m')).count(),
        refused.len(),
        store_losses
    );
}
