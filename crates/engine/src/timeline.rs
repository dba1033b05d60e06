//! Where a short command's own time goes: named marks since the command started, for `import --json`'s
//! `fixed_seconds` (a one-file import's fixed costs: connecting, the migrations check, the integrity check, the
//! shared run's bookkeeping, ...).
use std::sync::Mutex;
use std::time::Instant;

struct Marks {
    start: Option<Instant>,
    last: Option<Instant>,
    steps: Vec<(&'static str, f64)>,
}

static MARKS: Mutex<Marks> = Mutex::new(Marks {
    start: None,
    last: None,
    steps: Vec::new(),
});

/// Start (or start again) the command's clock.
pub fn start() {
    let mut m = MARKS.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    m.start = Some(now);
    m.last = Some(now);
    m.steps.clear();
}

/// The step `name` ended now: the time since the previous mark is its own (added up when it comes again).
pub fn mark(name: &'static str) {
    let mut m = MARKS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(last) = m.last else { return };
    let now = Instant::now();
    let secs = now.duration_since(last).as_secs_f64();
    m.last = Some(now);
    match m.steps.iter_mut().find(|(n, _)| *n == name) {
        Some(step) => step.1 += secs,
        None => m.steps.push((name, secs)),
    }
}

/// Each step's seconds, in the order the steps first ended; empty when the clock never started.
pub fn steps() -> Vec<(String, f64)> {
    let m = MARKS.lock().unwrap_or_else(|e| e.into_inner());
    m.steps.iter().map(|(n, s)| (n.to_string(), *s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_add_up_and_keep_their_first_order() {
        start();
        mark("a");
        std::thread::sleep(std::time::Duration::from_millis(5));
        mark("b");
        mark("a");
        let s = steps();
        assert_eq!(s.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(s[1].1 >= 0.004, "{s:?}");
    }
}
