//! The request queue between [`crate::Client`] handles and the [`crate::EventLoop`] (and the
//! message queue from a spawned event loop to [`crate::Messages`]).
//!
//! A bounded multi-producer, single-consumer queue that holds no memory while it is empty:
//! Tokio's `mpsc` channel allocates its first block of 32 slots up front (3.6 KB for requests
//! of 112 bytes), which was a third of an idle connection. Here the slots are a `VecDeque` that
//! grows with use, the bound is a [`Semaphore`] (one permit per queued request, so a full queue
//! makes `send` wait and `try_send` fail), and disconnect requests have a second, unbounded lane
//! that the event loop reads even while the first is full. Both lanes and the waker of the event
//! loop share one allocation. The consumer takes requests in batches under one lock and gives
//! their permits back at once.
//!
//! Closing (from the event loop) fails every later send and wakes the senders waiting for room;
//! when the last sender is dropped the consumer sees the end of the queue once it is empty. When
//! the consumer is dropped, what is still queued is dropped with it, so the futures waiting on
//! those requests learn that the client is closed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use tokio::sync::Semaphore;

/// Why a request could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The queue is full (only from [`Sender::try_send`]).
    Full,
    /// The event loop has closed the queue or is gone.
    Closed,
}

/// A bounded request queue with `capacity` slots, and an unbounded lane for control requests.
pub(crate) fn queue<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        lanes: Mutex::new(Lanes {
            requests: VecDeque::new(),
            control: VecDeque::new(),
            senders: 1,
            closed: false,
        }),
        // A capacity of 0 would never admit anything; Tokio's channel refuses it too.
        permits: Semaphore::new(capacity.clamp(1, Semaphore::MAX_PERMITS)),
        consumer: AtomicWaker::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

struct Shared<T> {
    lanes: Mutex<Lanes<T>>,
    /// One permit per free slot of `requests`.
    permits: Semaphore,
    /// The event loop's task, woken on every new request and when the last sender goes.
    consumer: AtomicWaker,
}

struct Lanes<T> {
    requests: VecDeque<T>,
    control: VecDeque<T>,
    senders: usize,
    closed: bool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Lanes<T>> {
        // Nothing panics while holding the lock; a poisoned lock still holds consistent lanes.
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending side, held by every [`crate::Client`] clone.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues a request, waiting for room while the queue is full.
    pub(crate) async fn send(&self, item: T) -> Result<(), SendError> {
        let permit = self
            .shared
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::Closed)?;
        permit.forget();
        self.push(item)
    }

    /// Queues a request if there is room now.
    pub(crate) fn try_send(&self, item: T) -> Result<(), SendError> {
        match self.shared.permits.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(tokio::sync::TryAcquireError::NoPermits) => return Err(SendError::Full),
            Err(tokio::sync::TryAcquireError::Closed) => return Err(SendError::Closed),
        }
        self.push(item)
    }

    /// Queues a control request: never waits, never full.
    pub(crate) fn send_control(&self, item: T) -> Result<(), SendError> {
        let mut lanes = self.shared.lock();
        if lanes.closed {
            return Err(SendError::Closed);
        }
        lanes.control.push_back(item);
        drop(lanes);
        self.shared.consumer.wake();
        Ok(())
    }

    fn push(&self, item: T) -> Result<(), SendError> {
        let mut lanes = self.shared.lock();
        if lanes.closed {
            return Err(SendError::Closed);
        }
        lanes.requests.push_back(item);
        drop(lanes);
        self.shared.consumer.wake();
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut lanes = self.shared.lock();
            lanes.senders -= 1;
            lanes.senders == 0
        };
        if last {
            self.shared.consumer.wake();
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The receiving side, held by the event loop.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// Takes ordinary requests in order and hands each to `f` while `more` says so (both see
    /// `state`), then frees their slots at once. Returns how many were taken.
    pub(crate) fn take_while<S>(
        &self,
        state: &mut S,
        more: impl Fn(&S) -> bool,
        mut f: impl FnMut(&mut S, T),
    ) -> usize {
        let mut n = 0;
        while more(state) {
            // One lock per request: `f` runs without it, so senders are never held up by it.
            let Some(item) = self.shared.lock().requests.pop_front() else {
                break;
            };
            f(state, item);
            n += 1;
        }
        if n > 0 {
            self.shared.permits.add_permits(n);
        }
        n
    }

    /// Waits until ordinary requests are queued, then moves up to `max` of them (at least one)
    /// into `into` under one lock. Returns how many; 0 only once every sender is gone and none
    /// is left (cancel safe).
    pub(crate) async fn recv_many(&self, into: &mut Vec<T>, max: usize) -> usize {
        std::future::poll_fn(|cx| {
            self.shared.consumer.register(cx.waker());
            let n = {
                let mut lanes = self.shared.lock();
                let n = lanes.requests.len().min(max.max(1));
                if n == 0 {
                    return if lanes.senders == 0 {
                        Poll::Ready(0)
                    } else {
                        Poll::Pending
                    };
                }
                into.extend(lanes.requests.drain(..n));
                n
            };
            self.shared.permits.add_permits(n);
            Poll::Ready(n)
        })
        .await
    }

    /// Polls for one ordinary request (for a `Stream`): like [`Receiver::recv`].
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.poll_lane(cx, |lanes| &mut lanes.requests).map(|item| {
            if item.is_some() {
                self.shared.permits.add_permits(1);
            }
            item
        })
    }

    /// Takes one ordinary request.
    pub(crate) fn try_recv(&self) -> Option<T> {
        let item = self.shared.lock().requests.pop_front()?;
        self.shared.permits.add_permits(1);
        Some(item)
    }

    /// Takes one control request.
    pub(crate) fn try_recv_control(&self) -> Option<T> {
        self.shared.lock().control.pop_front()
    }

    /// Waits for an ordinary request; `None` once every sender is gone and none is left (cancel
    /// safe: nothing is taken unless it is returned).
    pub(crate) async fn recv(&self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Waits for a control request; `None` once every sender is gone and none is left (cancel
    /// safe).
    pub(crate) async fn recv_control(&self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_lane(cx, |lanes| &mut lanes.control)).await
    }

    fn poll_lane(
        &self,
        cx: &mut Context<'_>,
        lane: impl FnOnce(&mut Lanes<T>) -> &mut VecDeque<T>,
    ) -> Poll<Option<T>> {
        // Registered before looking, so a request queued right after the look wakes us.
        self.shared.consumer.register(cx.waker());
        let mut lanes = self.shared.lock();
        if let Some(item) = lane(&mut lanes).pop_front() {
            return Poll::Ready(Some(item));
        }
        if lanes.senders == 0 {
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    /// Refuses every later send (senders waiting for room fail at once); what is queued stays
    /// to be taken.
    pub(crate) fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.permits.close();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
        // Dropped here, not when the last sender goes: their tickets tell the waiting futures
        // that the client is closed.
        let (requests, control) = {
            let mut lanes = self.shared.lock();
            (
                std::mem::take(&mut lanes.requests),
                std::mem::take(&mut lanes.control),
            )
        };
        drop((requests, control));
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(rx: &Receiver<u32>, max: usize) -> Vec<u32> {
        let mut v = Vec::new();
        rx.take_while(&mut v, |v| v.len() < max, |v, x| v.push(x));
        v
    }

    #[test]
    fn an_empty_queue_holds_no_slots() {
        let (tx, rx) = queue::<[u8; 112]>(64);
        assert_eq!(rx.shared.lock().requests.capacity(), 0);
        assert_eq!(rx.shared.lock().control.capacity(), 0);
        drop(tx);
    }

    #[test]
    fn bounded_in_order_and_slots_come_back() {
        let (tx, rx) = queue(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(tx.try_send(3), Err(SendError::Full));
        assert_eq!(take(&rx, 1), vec![1]);
        tx.try_send(3).unwrap();
        assert_eq!(take(&rx, 10), vec![2, 3]);
        assert_eq!(rx.try_recv(), None);
    }

    #[test]
    fn control_bypasses_the_bound() {
        let (tx, rx) = queue(1);
        tx.try_send(1).unwrap();
        assert_eq!(tx.try_send(2), Err(SendError::Full));
        tx.send_control(9).unwrap();
        tx.send_control(10).unwrap();
        assert_eq!(rx.try_recv_control(), Some(9));
        assert_eq!(rx.try_recv_control(), Some(10));
        assert_eq!(rx.try_recv(), Some(1));
    }

    #[tokio::test]
    async fn send_waits_for_room() {
        let (tx, rx) = queue(1);
        tx.send(1).await.unwrap();
        let waiting = tokio::spawn(async move { tx.send(2).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert_eq!(rx.try_recv(), Some(1));
        assert_eq!(waiting.await.unwrap(), Ok(()));
        assert_eq!(rx.try_recv(), Some(2));
    }

    #[tokio::test]
    async fn close_fails_waiting_and_later_senders_but_keeps_the_queue() {
        let (tx, rx) = queue(1);
        tx.send(1).await.unwrap();
        let tx2 = tx.clone();
        let waiting = tokio::spawn(async move { tx2.send(2).await });
        tokio::task::yield_now().await;
        rx.close();
        assert_eq!(waiting.await.unwrap(), Err(SendError::Closed));
        assert_eq!(tx.try_send(3), Err(SendError::Closed));
        assert_eq!(tx.send(3).await, Err(SendError::Closed));
        assert_eq!(tx.send_control(4), Err(SendError::Closed));
        assert_eq!(rx.try_recv(), Some(1));
    }

    #[tokio::test]
    async fn receiver_wakes_on_send_and_sees_the_end() {
        let (tx, rx) = queue::<u32>(4);
        let tx2 = tx.clone();
        let consumer = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(x) = rx.recv().await {
                got.push(x);
            }
            (got, rx.recv_control().await)
        });
        tokio::task::yield_now().await;
        tx.send(1).await.unwrap();
        tokio::task::yield_now().await;
        tx2.send(2).await.unwrap();
        drop(tx);
        tokio::task::yield_now().await;
        drop(tx2);
        assert_eq!(consumer.await.unwrap(), (vec![1, 2], None));
    }

    #[tokio::test]
    async fn recv_many_takes_what_is_there_up_to_the_limit_and_frees_the_slots() {
        let (tx, rx) = queue::<u32>(3);
        for i in 1..=3 {
            tx.send(i).await.unwrap();
        }
        assert_eq!(tx.try_send(4), Err(SendError::Full));
        let mut got = Vec::new();
        assert_eq!(rx.recv_many(&mut got, 2).await, 2);
        assert_eq!(rx.recv_many(&mut got, 10).await, 1);
        assert_eq!(got, vec![1, 2, 3]);
        for i in 4..=6 {
            tx.try_send(i).unwrap();
        }
        let consumer = tokio::spawn(async move {
            let mut got = Vec::new();
            while rx.recv_many(&mut got, 64).await > 0 {}
            got
        });
        tokio::task::yield_now().await;
        tx.send(7).await.unwrap();
        drop(tx);
        assert_eq!(consumer.await.unwrap(), vec![4, 5, 6, 7]);
    }

    #[tokio::test]
    async fn control_wakes_the_receiver() {
        let (tx, rx) = queue::<u32>(4);
        let consumer = tokio::spawn(async move { rx.recv_control().await });
        tokio::task::yield_now().await;
        tx.send_control(7).unwrap();
        assert_eq!(consumer.await.unwrap(), Some(7));
    }

    #[test]
    fn dropping_the_receiver_drops_what_is_queued() {
        let (tx, rx) = queue(4);
        let item = Arc::new(());
        tx.try_send(item.clone()).unwrap();
        tx.send_control(item.clone()).unwrap();
        assert_eq!(Arc::strong_count(&item), 3);
        drop(rx);
        assert_eq!(Arc::strong_count(&item), 1);
        assert_eq!(tx.try_send(item.clone()), Err(SendError::Closed));
    }
}
