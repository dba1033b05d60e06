//! The pool on its own: order, bounds, stop, panics, given-up jobs; every test fails rather than hangs.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// Run `f` on a thread and fail if it has not returned within `secs` (a hang is a failure, not a stuck suite).
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the pool hung for {secs} s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the test failed (above)"),
    }
}

/// A job that may wait for a gate before answering and open another after.
#[derive(Debug)]
struct Step {
    value: u64,
    wait: Option<crossbeam_channel::Receiver<()>>,
    then: Option<crossbeam_channel::Sender<()>>,
}

fn step(value: u64) -> Step {
    Step {
        value,
        wait: None,
        then: None,
    }
}

/// Workers that answer `value * 10` and log the order they finished in.
fn loggers(n: usize, log: &Arc<Mutex<Vec<u64>>>) -> Vec<impl FnMut(Step) -> u64 + Send + 'static> {
    (0..n)
        .map(|_| {
            let log = Arc::clone(log);
            move |s: Step| {
                if let Some(w) = &s.wait {
                    let _ = w.recv();
                }
                log.lock().expect("log").push(s.value);
                if let Some(t) = &s.then {
                    let _ = t.send(());
                }
                s.value * 10
            }
        })
        .collect()
}

const WIDE: Bounds = Bounds {
    jobs: 64,
    bytes: u64::MAX,
};

#[test]
fn outputs_come_back_in_submission_order_when_later_jobs_finish_first() {
    within(20, || {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut pool = OrderedAhead::threads("t", loggers(3, &log), WIDE).expect("workers");
        // Job 0 waits until job 2 has finished; job 2 waits until job 1 has.
        let (open0, gate0) = crossbeam_channel::bounded(1);
        let (open2, gate2) = crossbeam_channel::bounded(1);
        let jobs = [
            Step {
                value: 0,
                wait: Some(gate0),
                then: None,
            },
            Step {
                value: 1,
                wait: None,
                then: Some(open2),
            },
            Step {
                value: 2,
                wait: Some(gate2),
                then: Some(open0),
            },
        ];
        let mut seqs: Vec<u64> = jobs.into_iter().map(|j| pool.submit(j, 1).expect("admitted")).collect();
        seqs.extend((3..20).map(|v| pool.submit(step(v), 1).expect("admitted")));
        let got: Vec<u64> = seqs
            .iter()
            .map(|&s| pool.take(s).expect("in flight").expect("done"))
            .collect();
        assert_eq!(got, (0..20).map(|v| v * 10).collect::<Vec<_>>());
        let finished = log.lock().expect("log").clone();
        let at = |v: u64| finished.iter().position(|&x| x == v);
        assert!(at(1) < at(2) && at(2) < at(0), "finished in {finished:?}");
        assert_eq!(pool.take(seqs[0]), None, "taken twice");
    });
}

#[test]
fn jobs_and_bytes_in_flight_stay_within_the_bounds() {
    within(20, || {
        let log = Arc::new(Mutex::new(Vec::new()));
        let bounds = Bounds { jobs: 3, bytes: 100 };
        let mut pool = OrderedAhead::threads("t", loggers(2, &log), bounds).expect("workers");
        let a = pool.submit(step(1), 40).expect("admitted");
        let b = pool.submit(step(2), 40).expect("admitted");
        assert!(!pool.room(40), "120 bytes of 100");
        assert!(pool.submit(step(3), 40).is_err());
        let c = pool.submit(step(3), 20).expect("exactly 100 bytes");
        assert!(!pool.room(0), "a fourth job");
        assert_eq!(pool.take(a), Some(Ok(10)));
        assert!(pool.room(40));
        for s in [b, c] {
            assert!(pool.take(s).is_some_and(|r| r.is_ok()));
        }
        // A job larger than the whole budget runs alone, never beside another.
        let big = pool.submit(step(4), 500).expect("alone, admitted");
        assert!(pool.submit(step(5), 1).is_err());
        assert_eq!(pool.take(big), Some(Ok(40)));
        assert!(pool.peak() <= 500);

        // Under load: a planned run of varied sizes never holds more than its budget.
        let sizes: Vec<u64> = (0..60).map(|i| 5 + (i * 37) % 50).collect();
        let bounds = Bounds { jobs: 8, bytes: 120 };
        let pool = OrderedAhead::threads("t", loggers(2, &log), bounds).expect("workers");
        let wanted = sizes.iter().enumerate().map(|(i, &n)| (i, step(i as u64), n)).collect();
        let mut planned = Planned::new(pool, wanted);
        for i in 0..sizes.len() {
            assert_eq!(planned.take(i), Some(Ok(i as u64 * 10)), "job {i}");
        }
        assert!(planned.peak() <= 120, "peak {}", planned.peak());
        assert!(planned.peak() > 54, "never ran ahead: peak {}", planned.peak());
    });
}

#[test]
fn a_stop_while_workers_block_drops_the_queue_and_answers_gone() {
    within(20, || {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let (started_tx, started) = crossbeam_channel::unbounded();
        let (release, gate) = crossbeam_channel::unbounded::<()>();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (ran, started_tx, gate) = (Arc::clone(&ran), started_tx.clone(), gate.clone());
                move |v: u64| {
                    let _ = started_tx.send(v);
                    let _ = gate.recv();
                    ran.lock().expect("ran").push(v);
                    v
                }
            })
            .collect();
        let mut pool = OrderedAhead::threads("t", workers, WIDE).expect("workers");
        let seqs: Vec<u64> = (0..10).map(|v| pool.submit(v, 1).expect("admitted")).collect();
        // Both workers are inside a job, eight jobs queued.
        let in_hand = [started.recv().expect("start"), started.recv().expect("start")];
        pool.stop();
        assert!(pool.submit(99, 1).is_err(), "a stopped pool takes no job");
        drop(release);
        let queued = (0..10).find(|v| !in_hand.contains(v)).expect("a queued job");
        assert_eq!(pool.take(seqs[queued as usize]), Some(Err(Lost::Gone)));
        assert_eq!(pool.take(seqs[in_hand[0] as usize]), Some(Ok(in_hand[0])));
        drop(pool);
        let mut ran = ran.lock().expect("ran").clone();
        ran.sort_unstable();
        let mut expected = in_hand.to_vec();
        expected.sort_unstable();
        assert_eq!(ran, expected, "only the jobs in hand ran");
    });
}

#[test]
fn a_panicking_job_answers_panicked_and_its_worker_goes_on() {
    within(20, || {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                |v: u64| {
                    assert!(v != 3, "job 3 fails (on purpose)");
                    v + 1
                }
            })
            .collect();
        let mut pool = OrderedAhead::threads("t", workers, WIDE).expect("workers");
        let seqs: Vec<u64> = (0..12).map(|v| pool.submit(v, 1).expect("admitted")).collect();
        for (v, s) in seqs.into_iter().enumerate() {
            let expected = if v == 3 { Err(Lost::Panicked) } else { Ok(v as u64 + 1) };
            assert_eq!(pool.take(s), Some(expected), "job {v}");
        }
    });
}

#[test]
fn given_up_jobs_free_their_room_and_are_skipped_when_not_started() {
    within(20, || {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let (release, gate) = crossbeam_channel::unbounded::<()>();
        let (started_tx, started) = crossbeam_channel::unbounded();
        let workers = vec![{
            let (ran, gate) = (Arc::clone(&ran), gate.clone());
            move |v: u64| {
                if v == 0 {
                    let _ = started_tx.send(());
                    let _ = gate.recv();
                }
                ran.lock().expect("ran").push(v);
                v
            }
        }];
        let bounds = Bounds { jobs: 4, bytes: 100 };
        let mut pool = OrderedAhead::threads("t", workers, bounds).expect("worker");
        for v in 0..4 {
            pool.submit(v, 25).expect("admitted");
        }
        // The worker is inside job 0; jobs 1-3 are queued.
        started.recv().expect("job 0 started");
        pool.forget_all();
        // Still held by the worker and the queue until they answer.
        assert!(!pool.room(1));
        drop(release);
        let next = loop {
            if let Ok(s) = pool.submit(7, 25) {
                break s;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(pool.take(next), Some(Ok(7)));
        assert_eq!(*ran.lock().expect("ran"), vec![0, 7], "given-up jobs 1-3 were skipped");
    });
}

#[test]
fn without_a_worker_every_job_is_refused() {
    let none: Vec<fn(u64) -> u64> = Vec::new();
    assert!(OrderedAhead::threads("t", none.clone(), WIDE).is_none());
    std::thread::scope(|s| {
        let mut pool = OrderedAhead::scoped(s, "t", none, WIDE);
        assert_eq!(pool.submit(1, 1), Err(1));
        let mut planned = Planned::new(pool, vec![(0, 5, 1)]);
        assert_eq!(planned.take(0), None, "the caller does it itself");
    });
}
