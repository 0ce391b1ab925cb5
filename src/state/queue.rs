//! The queue of accepted publishes waiting for the in-flight window (or for a connection), in
//! the order they were accepted, with the bytes they hold so that the queue can be bounded by
//! count and by size ([`crate::ConnectOptions::max_queued`],
//! [`crate::ConnectOptions::max_queued_bytes`]).

use std::collections::VecDeque;

use super::sender::Queued;

/// Accepted publishes not yet sent, oldest first.
#[derive(Debug)]
pub(super) struct SendQueue<T> {
    items: VecDeque<Queued<T>>,
    bytes: usize,
}

impl<T> Default for SendQueue<T> {
    fn default() -> Self {
        SendQueue {
            items: VecDeque::new(),
            bytes: 0,
        }
    }
}

/// What a queued message holds: its topic and payload.
fn size<T>(q: &Queued<T>) -> usize {
    q.message.topic().len() + q.message.payload().len()
}

impl<T> SendQueue<T> {
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Topic and payload bytes of every queued message.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(super) fn front(&self) -> Option<&Queued<T>> {
        self.items.front()
    }

    pub(super) fn push_back(&mut self, q: Queued<T>) {
        self.bytes += size(&q);
        self.items.push_back(q);
    }

    pub(super) fn push_front(&mut self, q: Queued<T>) {
        self.bytes += size(&q);
        self.items.push_front(q);
    }

    pub(super) fn pop_front(&mut self) -> Option<Queued<T>> {
        let q = self.items.pop_front()?;
        self.bytes -= size(&q);
        Some(q)
    }

    /// Puts a message back in its place by sequence number.
    pub(super) fn insert_in_order(&mut self, q: Queued<T>) {
        let at = self.items.partition_point(|x| x.seq < q.seq);
        self.bytes += size(&q);
        self.items.insert(at, q);
    }

    /// Takes the message with sequence number `seq` out.
    pub(super) fn remove(&mut self, seq: u64) -> Option<Queued<T>> {
        let i = self.items.iter().position(|q| q.seq == seq)?;
        let q = self.items.remove(i)?;
        self.bytes -= size(&q);
        Some(q)
    }

    /// Takes out every message `pred` selects, in order.
    pub(super) fn take_where(&mut self, pred: impl Fn(&Queued<T>) -> bool) -> Vec<Queued<T>> {
        let (taken, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.items).into_iter().partition(pred);
        self.items = kept.into();
        self.bytes = self.items.iter().map(size).sum();
        taken
    }

    /// Takes out every message.
    pub(super) fn take_all(&mut self) -> VecDeque<Queued<T>> {
        self.bytes = 0;
        std::mem::take(&mut self.items)
    }
}
