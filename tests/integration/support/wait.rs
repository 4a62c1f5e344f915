//! Polling a condition with a timeout (the cluster is eventually consistent; tests wait for states, not sleeps).

use std::future::Future;
use std::time::{Duration, Instant};

/// What a condition closure may return: `bool`, or `Option<T>` to hand a value back once it holds.
pub trait Waited {
    type Value;
    fn into_value(self) -> Option<Self::Value>;
}

impl Waited for bool {
    type Value = ();
    fn into_value(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Waited for Option<T> {
    type Value = T;
    fn into_value(self) -> Option<T> {
        self
    }
}

/// Calls `check` every 100 ms until it holds; `None` if it still doesn't after `timeout`.
pub async fn wait_for<W, F, Fut>(timeout: Duration, mut check: F) -> Option<W::Value>
where
    W: Waited,
    F: FnMut() -> Fut,
    Fut: Future<Output = W>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await.into_value() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
