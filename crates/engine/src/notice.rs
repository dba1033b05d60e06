//! One-line notices for whoever waits at a terminal while the engine does something long before any screen exists
//! (a schema update when a library is opened): the front end sets where they go; they always go to the log.
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SINK: Mutex<Option<fn(&str)>> = Mutex::new(None);

/// Where notices go from now on (`None`: the log only, e.g. while the console owns the terminal).
pub fn set_sink(sink: Option<fn(&str)>) {
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = sink;
}

/// Say `line` where the front end asked, and in the log.
pub fn say(line: &str) {
    tracing::info!("{line}");
    if let Some(sink) = *SINK.lock().unwrap_or_else(|e| e.into_inner()) {
        sink(line);
    }
}

/// Await `work`; when it is still running after `after`, say `waiting`, and then `done` with the seconds it took.
/// Quick work says nothing, so a new library's dozens of instant steps stay silent.
pub async fn when_slow<T>(
    work: impl Future<Output = T>,
    after: Duration,
    waiting: impl FnOnce() -> String,
    done: impl FnOnce(f64) -> String,
) -> T {
    let started = Instant::now();
    let mut work = std::pin::pin!(work);
    tokio::select! {
        out = &mut work => return out,
        () = tokio::time::sleep(after) => say(&waiting()),
    }
    let out = work.await;
    say(&done(started.elapsed().as_secs_f64()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static SAID: AtomicUsize = AtomicUsize::new(0);

    #[tokio::test]
    async fn only_slow_work_is_announced_with_its_time() {
        set_sink(Some(|_| {
            SAID.fetch_add(1, Ordering::SeqCst);
        }));
        let quick = when_slow(
            async { 7 },
            Duration::from_millis(200),
            || "waiting".into(),
            |_| "done".into(),
        )
        .await;
        assert_eq!((quick, SAID.load(Ordering::SeqCst)), (7, 0));
        let mut took = 0.0;
        let slow = when_slow(
            async {
                tokio::time::sleep(Duration::from_millis(120)).await;
                8
            },
            Duration::from_millis(20),
            || "waiting".into(),
            |s| {
                took = s;
                "done".into()
            },
        )
        .await;
        assert_eq!((slow, SAID.load(Ordering::SeqCst)), (8, 2));
        assert!(took >= 0.12, "{took}");
        set_sink(None);
    }
}
