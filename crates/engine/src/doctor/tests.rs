//! The doctor's judgements on facts with known answers.
use super::*;

const GIB: u64 = 1 << 30;

fn os() -> OsFacts {
    OsFacts {
        open_files: Some((1024, 4096)),
        governors: vec!["performance".into(), "performance".into()],
        mem_total: 16 * GIB,
        mem_available: Some(12 * GIB),
        swap_total: Some(0),
        swap_free: Some(0),
        swappiness: Some(60),
        thp: Some("madvise".into()),
        cores: 2,
    }
}

fn server() -> ServerFacts {
    ServerFacts {
        shared_buffers: 2 * GIB,
        max_wal_size: GIB,
        checkpoint_timeout_secs: 300,
        checkpoint_completion_target: 0.9,
        library_files: 0,
        database_bytes: 8 << 20,
        data_directory: "/data/pg".into(),
        disk_free: Some(100 * GIB),
        managed: true,
    }
}

fn check(checks: &[Check], id: &str) -> Check {
    checks
        .iter()
        .find(|c| c.id == id)
        .cloned()
        .unwrap_or_else(|| panic!("no check {id}"))
}

fn size(files: u64) -> Option<ImportSize> {
    Some(ImportSize::new(files, 0, 0))
}

#[test]
fn a_healthy_machine_passes_every_check() {
    let checks = evaluate(&os(), Ok(&server()), size(10_000), Mode::Normal);
    assert_eq!(checks.len(), 7);
    for c in &checks {
        assert_eq!(c.verdict, Verdict::Ok, "{c:?}");
        assert!(c.fix.is_none(), "{c:?}");
    }
}

#[test]
fn a_low_open_file_limit_is_a_problem_with_the_command_that_raises_it() {
    let mut o = os();
    o.open_files = Some((20, 4096));
    let c = check(&evaluate(&o, Ok(&server()), None, Mode::Normal), "open_files");
    assert_eq!(c.verdict, Verdict::Problem);
    assert!(c.matters);
    assert!(c.fix.as_deref().unwrap().starts_with("ulimit -n 4096"), "{c:?}");
    o.open_files = Some((20, 40));
    let c = check(&evaluate(&o, Ok(&server()), None, Mode::Normal), "open_files");
    assert!(c.fix.as_deref().unwrap().contains("prlimit"), "{c:?}");
}

#[test]
fn the_governor_is_unknown_without_cpufreq_and_advice_when_power_saving() {
    let mut o = os();
    o.governors.clear();
    let c = check(&evaluate(&o, Ok(&server()), None, Mode::Normal), "cpu_governor");
    assert_eq!((c.verdict, c.matters), (Verdict::Unknown, false));
    o.governors = vec!["performance".into(), "powersave".into()];
    let c = check(&evaluate(&o, Ok(&server()), None, Mode::Normal), "cpu_governor");
    assert_eq!(c.verdict, Verdict::Advice);
    assert_eq!(c.value, "performance, powersave");
    assert!(c.fix.unwrap().contains("cpupower frequency-set -g performance"));
}

#[test]
fn always_on_huge_pages_matter_only_for_a_server_on_this_machine() {
    let mut o = os();
    o.thp = Some("always".into());
    let c = check(
        &evaluate(&o, Ok(&server()), None, Mode::Normal),
        "transparent_huge_pages",
    );
    assert_eq!((c.verdict, c.matters), (Verdict::Advice, true));
    let remote = ServerFacts {
        disk_free: None,
        ..server()
    };
    let c = check(&evaluate(&o, Ok(&remote), None, Mode::Normal), "transparent_huge_pages");
    assert_eq!((c.verdict, c.matters), (Verdict::Advice, false));
    assert_eq!(selected_choice("always [madvise] never\n").as_deref(), Some("madvise"));
    assert_eq!(selected_choice("always madvise never"), None);
}

#[test]
fn swap_advice_when_swappiness_is_high_and_memory_short() {
    let mut o = os();
    o.swap_total = Some(8 * GIB);
    o.swap_free = Some(8 * GIB);
    let c = check(&evaluate(&o, Ok(&server()), size(10), Mode::Normal), "swap");
    assert_eq!((c.verdict, c.matters), (Verdict::Advice, false), "{c:?}");
    assert!(c.fix.unwrap().contains("vm.swappiness=10"));
    // A source bigger than the available memory: the swappiness now matters.
    let c = check(&evaluate(&o, Ok(&server()), size(1_000_000), Mode::Normal), "swap");
    assert!(c.matters);
    o.mem_available = Some(100 << 20);
    let c = check(&evaluate(&o, Ok(&server()), None, Mode::Normal), "swap");
    assert!(c.why.contains("memory is short"), "{c:?}");
}

#[test]
fn disk_space_is_judged_against_data_and_the_wal_of_the_mode() {
    let mut s = server();
    // 1M files in normal mode: 3.0 GB of data + min(5.6 GB of WAL, 2 x max_wal_size = 2 GiB) held.
    s.disk_free = Some(3 * GIB);
    let c = check(&evaluate(&os(), Ok(&s), size(1_000_000), Mode::Normal), "disk");
    assert_eq!(c.verdict, Verdict::Problem, "{c:?}");
    s.disk_free = Some(6 * GIB);
    let c = check(&evaluate(&os(), Ok(&s), size(1_000_000), Mode::Normal), "disk");
    assert_eq!(c.verdict, Verdict::Advice, "{c:?}");
    // Ludicrous writes 1.15 KB of WAL per file: 1.15 GB, under the cap.
    s.disk_free = Some(5 * GIB);
    let c = check(&evaluate(&os(), Ok(&s), size(1_000_000), Mode::Ludicrous), "disk");
    assert_eq!(c.verdict, Verdict::Advice, "{c:?}");
    s.disk_free = None;
    let c = check(&evaluate(&os(), Ok(&s), size(1_000_000), Mode::Normal), "disk");
    assert_eq!(c.verdict, Verdict::Unknown);
    assert!(c.why.contains("df -h /data/pg"), "{c:?}");
}

#[test]
fn a_library_of_its_own_gives_its_own_bytes_per_file() {
    let s = ServerFacts {
        library_files: 100_000,
        database_bytes: 1_000_000_000,
        ..server()
    };
    let c = check(&evaluate(&os(), Ok(&s), size(1000), Mode::Fast), "disk");
    assert!(c.why.contains("10000 B of data per file"), "{c:?}");
}

#[test]
fn small_shared_buffers_are_advice_naming_the_managed_restart() {
    let s = ServerFacts {
        shared_buffers: 128 << 20,
        ..server()
    };
    let c = check(
        &evaluate(&os(), Ok(&s), size(1_000_000), Mode::Normal),
        "shared_buffers",
    );
    assert_eq!((c.verdict, c.matters), (Verdict::Advice, true));
    let fix = c.fix.unwrap();
    assert!(fix.contains("ALTER SYSTEM SET shared_buffers = '2048MB'"), "{fix}");
    assert!(fix.contains("midi-tui db stop && midi-tui db start"), "{fix}");
    let external = ServerFacts { managed: false, ..s };
    let c = check(&evaluate(&os(), Ok(&external), size(10), Mode::Fast), "shared_buffers");
    assert!(!c.matters);
    assert!(c.fix.unwrap().contains("systemctl restart postgresql"));
}

#[test]
fn many_checkpoints_in_normal_mode_ask_for_a_bigger_max_wal_size() {
    let c = check(
        &evaluate(&os(), Ok(&server()), size(1_000_000), Mode::Normal),
        "checkpoints",
    );
    assert_eq!(c.verdict, Verdict::Advice, "{c:?}");
    let fix = c.fix.unwrap();
    assert!(
        fix.contains("max_wal_size = '2730MB'") && fix.contains("pg_reload_conf()"),
        "{fix}"
    );
    // Fast mode raises max_wal_size for the run itself.
    let c = check(
        &evaluate(&os(), Ok(&server()), size(1_000_000), Mode::Fast),
        "checkpoints",
    );
    assert_eq!(c.verdict, Verdict::Ok, "{c:?}");
    let unspread = ServerFacts {
        checkpoint_completion_target: 0.5,
        ..server()
    };
    let c = check(&evaluate(&os(), Ok(&unspread), None, Mode::Fast), "checkpoints");
    assert!(c.fix.unwrap().contains("checkpoint_completion_target = '0.9'"));
}

#[test]
fn an_unreachable_server_leaves_its_checks_unknown_with_the_cause() {
    let checks = evaluate(&os(), Err("connection refused"), None, Mode::Normal);
    assert_eq!(checks.len(), 7);
    for id in ["disk", "shared_buffers", "checkpoints"] {
        let c = check(&checks, id);
        assert_eq!(c.verdict, Verdict::Unknown);
        assert!(c.why.contains("connection refused"));
    }
}

#[test]
fn archives_are_counted_by_their_packed_size() {
    let s = ImportSize::new(10, 2, 6 * 1024 * 100);
    assert_eq!(s.files, 110);
}

#[test]
fn governors_are_read_per_cpu_from_sysfs() {
    let dir = tempfile::tempdir().unwrap();
    for (cpu, g) in [("cpu0", "schedutil"), ("cpu1", "performance")] {
        let p = dir.path().join(cpu).join("cpufreq");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("scaling_governor"), format!("{g}\n")).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("cpufreq")).unwrap();
    std::fs::create_dir_all(dir.path().join("cpuidle")).unwrap();
    assert_eq!(governors(dir.path()), ["schedutil", "performance"]);
    assert!(governors(&dir.path().join("missing")).is_empty());
}
