//! Applying, reverting and verifying profile levels, and the parallel index rebuild: every change journaled first.
use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;

use crate::database::indexes::{BuildConnection, SecondaryIndex};
use crate::database::safety::JournalKind;
use crate::database::{DbError, Target, deferred, indexes, safety, status};
use crate::profile::plan::{self, Machine, UNLOGGED_ORDER};
use crate::profile::{
    ApplyReport, Check, Confirmation, Level, ProfileError, RebuildEvent, RebuildReport, RestoreReport, SafetyState,
};
use crate::run::session::Engine;

type Result<T> = std::result::Result<T, ProfileError>;

/// Prefix of a journaled old value that did not come from ALTER SYSTEM: restoring it means RESET.
const DEFAULT_PREFIX: &str = "default:";

fn level_of_setting(name: &str) -> Option<Level> {
    let m = Machine {
        memory_bytes: 1 << 30,
        cores: 1,
    };
    Level::ALL
        .into_iter()
        .find(|l| plan::settings(*l, m).iter().any(|t| t.name == name))
}

/// An unfinished transition in the user's words, with the command that completes it.
fn interrupted_text(u: &crate::database::transitions::Unfinished) -> String {
    let finish = match u.command.strip_prefix("profile apply ") {
        Some(_) => format!(
            "run `midi-tui {}` again to complete it, or `midi-tui restore-safety` to undo it",
            u.command
        ),
        None if u.command.starts_with("profile revert") => "run `midi-tui restore-safety` to complete it".into(),
        None => format!("run `midi-tui {}` again to complete it", u.command),
    };
    format!(
        "`{}` was interrupted at step `{}` (started {}): {finish}",
        u.command, u.step, u.started
    )
}

fn old_value_of(entry_old: &Option<String>) -> (bool, String) {
    match entry_old.as_deref() {
        Some(v) if v.starts_with(DEFAULT_PREFIX) => (true, v[DEFAULT_PREFIX.len()..].to_string()),
        Some(v) => (false, v.to_string()),
        None => (true, String::new()),
    }
}

impl Engine {
    /// How safe the database is now: live settings, table persistence, indexes, journal, lost data.
    pub async fn safety(&self) -> Result<SafetyState> {
        self.bounded(self.safety_now()).await
    }

    async fn safety_now(&self) -> Result<SafetyState> {
        let pool = &self.pool;
        let mut st = SafetyState::default();
        let live = crate::database::status::settings(pool).await?;
        let get = |n: &str| {
            live.iter()
                .find(|s| s.name == n)
                .map(|s| s.value.clone())
                .unwrap_or_default()
        };
        if get("fsync") == "off" {
            st.unsafe_reasons
                .push("fsync is off: a machine crash can corrupt the database".into());
        }
        if get("full_page_writes") == "off" {
            st.unsafe_reasons
                .push("full_page_writes is off: a crash can leave torn pages".into());
        }
        for t in UNLOGGED_ORDER {
            if safety::persistence(pool, t).await?.as_deref() == Some("unlogged") {
                st.unsafe_reasons
                    .push(format!("table {t} is UNLOGGED: a server crash empties it"));
                st.levels_applied[2] = true;
            }
        }
        if get("synchronous_commit") == "off" {
            st.relaxed
                .push("synchronous_commit is off: a crash loses the last moments of commits".into());
        }
        if get("autovacuum") == "off" {
            st.relaxed.push("autovacuum is off".into());
        }
        if get("wal_level") == "minimal" {
            st.relaxed
                .push("wal_level is minimal: no point-in-time recovery or replication".into());
        }
        let present = indexes::present(pool).await?.len();
        let expected = indexes::catalog().len();
        if present < expected {
            st.relaxed.push(format!(
                "{} of {expected} secondary indexes dropped: searches are slow",
                expected - present
            ));
            st.levels_applied[1] = true;
        }
        if deferred::pending(pool).await? {
            st.relaxed.push(
                "foreign keys and search rows of a fast import not yet proven: restore-safety proves them".into(),
            );
            st.levels_applied[1] = true;
        }
        for e in safety::unrestored(pool).await? {
            if let Some(l) = (e.kind == JournalKind::Setting)
                .then(|| level_of_setting(&e.target))
                .flatten()
            {
                st.levels_applied[(l.number() - 1) as usize] = true;
            }
        }
        st.pending_restart = live
            .iter()
            .filter(|s| s.pending_restart)
            .map(|s| s.name.clone())
            .collect();
        st.data_lost = self.check_integrity().await?;
        let holders = crate::database::lock::holders(pool).await?;
        st.running = holders.iter().map(|h| h.describe()).collect();
        for u in crate::database::transitions::unfinished(pool).await? {
            // A transition still at work holds the library: its session names its process.
            let live = u.pid.is_some_and(|pid| {
                let tag = format!("(pid {pid})");
                holders.iter().any(|h| h.what.ends_with(&tag))
            });
            if !live {
                st.interrupted.push(interrupted_text(&u));
            }
        }
        Ok(st)
    }

    /// Apply one level. Ludicrous needs both confirmations; without superuser rights the settings are skipped
    /// (and said so) while what a table owner may do still happens. Refused while an import runs.
    pub async fn apply_level(&self, level: Level, confirmed: &[Confirmation]) -> Result<ApplyReport> {
        let _turn = self.take_turn("profile apply").await?;
        self.bounded(self.apply_level_now(level, confirmed)).await
    }

    /// [`Engine::apply_level`] for a caller that holds the library already (an import applying its mode). Recorded
    /// as a transition: a kill leaves it named in `status`, and applying the level again completes it.
    pub(crate) async fn apply_level_now(&self, level: Level, confirmed: &[Confirmation]) -> Result<ApplyReport> {
        let command = format!("profile apply {}", level.cli_name());
        let t = self.begin_transition(&command).await?;
        let r = self.apply_level_steps(level, confirmed).await;
        self.end_transition(t, r.is_ok(), &[command.as_str()]).await;
        r
    }

    async fn apply_level_steps(&self, level: Level, confirmed: &[Confirmation]) -> Result<ApplyReport> {
        let missing: Vec<Confirmation> = level
            .confirmations()
            .iter()
            .copied()
            .filter(|c| !confirmed.contains(c))
            .collect();
        if !missing.is_empty() {
            return Err(ProfileError::NeedsConfirmation(missing));
        }
        let pool = &self.pool;
        let mut report = ApplyReport {
            level,
            lines: Vec::new(),
            pending_restart: Vec::new(),
            restarted: false,
        };
        let targets = plan::settings(level, Machine::this());
        if !targets.is_empty() {
            let (role, superuser) = safety::is_superuser(pool).await?;
            if superuser {
                self.apply_settings(level, &targets, &mut report).await?;
            } else {
                report.lines.push(format!(
                    "settings not changed ({}): role {role} is not a superuser, and ALTER SYSTEM needs one; the \
                     import still runs, with synchronous_commit off in its own sessions",
                    targets.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        match level {
            Level::DropIndexes => self.drop_indexes(&mut report).await?,
            Level::Ludicrous => {
                let mut logged = Vec::new();
                for t in UNLOGGED_ORDER {
                    if safety::persistence(pool, t).await?.as_deref() == Some("logged") {
                        safety::journal(pool, JournalKind::Table, t, Some("logged"), Some("unlogged")).await?;
                        logged.push(*t);
                    }
                }
                if !logged.is_empty() {
                    self.transition_step("tables UNLOGGED").await;
                    // One transaction: a crash halfway cannot leave children UNLOGGED beside a LOGGED files.
                    let t0 = Instant::now();
                    safety::set_persistence_all(pool, &logged, false).await?;
                    report.lines.push(format!(
                        "{}: UNLOGGED ({:.1} s, one transaction)",
                        logged.join(", "),
                        t0.elapsed().as_secs_f64()
                    ));
                }
            }
            Level::Basic => {}
        }
        if report.lines.is_empty() {
            report
                .lines
                .push(format!("level {} ({}) already applied", level.number(), level.label()));
        }
        Ok(report)
    }

    async fn apply_settings(&self, level: Level, targets: &[plan::Target], report: &mut ApplyReport) -> Result<()> {
        let pool = &self.pool;
        let wal_blocker = if level == Level::Ludicrous {
            safety::wal_minimal_blocker(pool).await?
        } else {
            None
        };
        let mut changed_restart_only = false;
        self.transition_step("settings").await;
        for t in targets {
            if let (Some(why), "wal_level" | "max_wal_senders") = (&wal_blocker, t.name) {
                report.lines.push(format!("{} not changed: {why}", t.name));
                continue;
            }
            let Some(live) = safety::live_setting(pool, t.name).await? else {
                continue;
            };
            let configured = safety::configured_value(pool, t.name).await?;
            if plan::same_value(&live.value, &t.value) && !live.pending_restart {
                continue;
            }
            if live.pending_restart && configured.as_deref().is_some_and(|c| plan::same_value(c, &t.value)) {
                report.pending_restart.push(t.name.to_string());
                continue;
            }
            let old = if live.from_auto_conf {
                live.value.clone()
            } else {
                format!("{DEFAULT_PREFIX}{}", live.value)
            };
            safety::journal(pool, JournalKind::Setting, t.name, Some(&old), Some(&t.value)).await?;
            safety::alter_system_set(pool, t.name, &t.value).await?;
            report
                .lines
                .push(format!("{} = {} (was {})", t.name, t.value, live.value));
            if live.context == "postmaster" {
                changed_restart_only = true;
            }
        }
        safety::reload(pool).await?;
        if changed_restart_only || !report.pending_restart.is_empty() {
            self.transition_step("restart the server").await;
            self.restart_for(report).await?;
        }
        Ok(())
    }

    /// Restart a managed server for restart-only settings; list them as pending for an external one.
    async fn restart_for(&self, report: &mut ApplyReport) -> Result<()> {
        let pending: Vec<String> = crate::database::status::settings(&self.pool)
            .await?
            .into_iter()
            .filter(|s| s.pending_restart)
            .map(|s| s.name)
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        match &self.target {
            Target::Managed(c) => {
                let mut c = c.clone();
                tokio::task::spawn_blocking(move || c.restart())
                    .await
                    .map_err(|e| ProfileError::Io {
                        path: self.data_dir.clone(),
                        source: std::io::Error::other(e),
                    })??;
                // The restart ended this process's lock session: the lock is taken again before anyone else can.
                self.retake_turn().await?;
                report.restarted = true;
                report
                    .lines
                    .push(format!("restarted the managed server for {}", pending.join(", ")));
            }
            Target::External(_) => {
                report.lines.push(format!(
                    "pending a server restart (still NOT active): {}; restart the server, e.g. `{}`",
                    pending.join(", "),
                    self.restart_command().await
                ));
                report.pending_restart = pending;
            }
        }
        Ok(())
    }

    async fn restart_command(&self) -> String {
        match status::data_directory(&self.pool).await.ok() {
            Some(d) => format!("pg_ctl restart -D {d}   (or: sudo systemctl restart postgresql)"),
            None => "sudo systemctl restart postgresql".into(),
        }
    }

    async fn drop_indexes(&self, report: &mut ApplyReport) -> Result<()> {
        let pool = &self.pool;
        let names: Vec<String> = indexes::catalog().iter().map(|i| i.name.clone()).collect();
        let defs = safety::index_definitions(pool, &names).await?;
        if defs.is_empty() {
            return Ok(());
        }
        self.transition_step("back up and drop the secondary indexes").await;
        // Back everything up (database and file) before the first drop.
        for (name, table, def) in &defs {
            safety::backup_index(pool, name, table, def).await?;
        }
        self.write_index_backup_file().await?;
        let t0 = Instant::now();
        for (name, _table, def) in &defs {
            safety::journal(pool, JournalKind::Index, name, Some(def), None).await?;
            safety::drop_index(pool, name).await?;
        }
        report.lines.push(format!(
            "dropped {} ({:.1} s); definitions backed up in index_backup and {}",
            crate::human::counted(defs.len(), "secondary index"),
            t0.elapsed().as_secs_f64(),
            self.data_dir.join("INDEX_BACKUP.sql").display()
        ));
        Ok(())
    }

    async fn write_index_backup_file(&self) -> Result<()> {
        let all = safety::backed_up_indexes(&self.pool).await?;
        let (dir, path) = (self.data_dir.clone(), self.data_dir.join("INDEX_BACKUP.sql"));
        let io = |source: std::io::Error| ProfileError::Io {
            path: path.clone(),
            source,
        };
        // Writing and syncing the file blocks: on a thread of its own, not on an async worker.
        let written = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || write_index_backup(&dir, &path, &all)).await
        };
        written.map_err(|e| io(std::io::Error::other(e)))?.map_err(io)
    }

    /// Turn one level off: its settings back, its tables LOGGED, or (level 2) its indexes rebuilt.
    pub async fn revert_level(&self, level: Level) -> Result<RestoreReport> {
        let _turn = self.take_turn("profile revert").await?;
        if level == Level::DropIndexes {
            let r = self.rebuild_indexes_now(crate::machine::cores(), None).await?;
            let ok = r.present == r.expected;
            return Ok(RestoreReport {
                lines: vec![format!(
                    "rebuilt {} in {:.1} s",
                    crate::human::counted(r.built.len(), "index"),
                    r.seconds
                )],
                checks: vec![Check {
                    what: "secondary indexes".into(),
                    expected: r.expected.to_string(),
                    actual: r.present.to_string(),
                    ok,
                }],
                ok,
                pending_restart: Vec::new(),
                still_relaxed: Vec::new(),
            });
        }
        self.bounded(self.restore(Some(level))).await
    }

    /// Put back every journaled setting and table, then verify against pg_settings and pg_class. Refused while an
    /// import runs.
    pub async fn restore_safety(&self) -> Result<RestoreReport> {
        let _turn = self.take_turn("restore-safety").await?;
        self.restore_safety_now().await
    }

    /// [`Engine::restore_safety`] for a caller that holds the library already (an import restoring its mode).
    pub(crate) async fn restore_safety_now(&self) -> Result<RestoreReport> {
        self.bounded(self.restore(None)).await
    }

    /// Every step is idempotent and the journal marks an entry restored only once its old value is verified in
    /// force: a kill of the tool or the server anywhere leaves entries that the next restore completes (a restart
    /// the killed run did not make is made by the next, since the setting still waits for it).
    async fn restore(&self, only: Option<Level>) -> Result<RestoreReport> {
        let command = match only {
            None => "restore-safety".to_string(),
            Some(l) => format!("profile revert {}", l.cli_name()),
        };
        let t = self.begin_transition(&command).await?;
        let r = self.restore_steps(only).await;
        let completes: Vec<&str> = match only {
            None => vec![
                "restore-safety",
                "profile apply basic",
                "profile apply drop-indexes",
                "profile apply unsafe-storage",
            ],
            Some(_) => vec![command.as_str()],
        };
        self.end_transition(t, r.is_ok(), &completes).await;
        r
    }

    async fn restore_steps(&self, only: Option<Level>) -> Result<RestoreReport> {
        let pool = &self.pool;
        let mut report = RestoreReport::default();
        let entries = safety::unrestored(pool).await?;
        let wanted = |e: &safety::JournalEntry| match (only, e.kind) {
            (None, JournalKind::Setting | JournalKind::Table) => true,
            (Some(l), JournalKind::Setting) => level_of_setting(&e.target) == Some(l),
            (Some(Level::Ludicrous), JournalKind::Table) => true,
            _ => false,
        };
        let selected: Vec<&safety::JournalEntry> = entries.iter().filter(|e| wanted(e)).collect();
        if only.is_none() {
            self.transition_step("prove the deferred checks").await;
            report.lines = self.prove_deferred_checks().await?;
        }
        let proved = !report.lines.is_empty();
        let (superuser_role, superuser) = safety::is_superuser(pool).await?;
        // 1. Settings a reload applies (fsync and full_page_writes first of all), newest change first, so that each
        // ends at its value before the oldest unrestored change. Not marked yet: see 5.
        if selected.iter().any(|e| e.kind == JournalKind::Setting) {
            self.transition_step("settings back").await;
        }
        for e in selected.iter().rev().filter(|e| e.kind == JournalKind::Setting) {
            if !superuser {
                report.lines.push(format!(
                    "{}: cannot restore, role {superuser_role} is not a superuser",
                    e.target
                ));
                continue;
            }
            let (reset, value) = old_value_of(&e.old_value);
            if reset {
                safety::alter_system_reset(pool, &e.target).await?;
            } else {
                safety::alter_system_set(pool, &e.target, &value).await?;
            }
            report.lines.push(format!("{} back to {value}", e.target));
        }
        if selected.iter().any(|e| e.kind == JournalKind::Setting) {
            safety::reload(pool).await?;
        }
        // 2. Tables LOGGED (see `tables_logged`).
        self.tables_logged(&selected, only, &mut report.lines).await?;
        // 3. Restart-only settings (see `restart_waiting`).
        let restarted = self.restart_waiting(only, superuser, &mut report).await?;
        // 4. Whatever was written while fsync was off reaches the disk now.
        if !selected.is_empty() || restarted {
            self.transition_step("checkpoint and sync").await;
            safety::checkpoint(pool).await?;
            if self.target.is_managed() {
                // sync(2) can take seconds on a busy disk: on a thread of its own, not on an async worker.
                // SAFETY: sync(2) has no preconditions; it flushes files the server wrote without fsync.
                let synced = tokio::task::spawn_blocking(|| unsafe { libc::sync() }).await;
                synced.map_err(|e| ProfileError::Io {
                    path: self.data_dir.clone(),
                    source: std::io::Error::other(e),
                })?;
            }
        }
        if selected.is_empty() && !proved && !restarted {
            report
                .lines
                .push("nothing to restore: the journal holds no unrestored change".into());
        }
        // 5. Verify, and mark restored exactly the entries whose old state is in force now.
        self.transition_step("verify").await;
        report.checks = self.verify(only).await?;
        report.ok = report.checks.iter().all(|c| c.ok);
        let verified: Vec<i64> = selected
            .iter()
            .filter(|e| {
                let what = match e.kind {
                    JournalKind::Setting => format!("setting {}", e.target),
                    _ => format!("table {}", e.target),
                };
                report.checks.iter().any(|c| c.what == what && c.ok)
            })
            .map(|e| e.id)
            .collect();
        safety::mark_restored_all(pool, &verified).await?;
        let expected = crate::database::indexes::catalog().len();
        let present = crate::database::indexes::present(pool).await?.len();
        if present < expected {
            report.still_relaxed.push(format!(
                "{} of {expected} secondary indexes dropped (level 2): `midi-tui rebuild-indexes` builds them",
                expected - present
            ));
        }
        Ok(report)
    }

    /// Tables LOGGED, referenced table first, all in one transaction: a crash before its commit leaves every
    /// table UNLOGGED (emptied together, which the next start detects and the next import repairs), never a LOGGED
    /// files beside emptied children. With fsync back on, the rewrite is durable at commit.
    async fn tables_logged(
        &self,
        selected: &[&safety::JournalEntry],
        only: Option<Level>,
        lines: &mut Vec<String>,
    ) -> Result<()> {
        let pool = &self.pool;
        let mut to_log = Vec::new();
        for t in UNLOGGED_ORDER.iter().rev() {
            let journaled = selected.iter().any(|e| e.kind == JournalKind::Table && e.target == *t);
            let unlogged = safety::persistence(pool, t).await?.as_deref() == Some("unlogged");
            if unlogged && (journaled || only.is_none()) {
                to_log.push(*t);
            }
        }
        if !to_log.is_empty() {
            self.transition_step("tables LOGGED").await;
            let t0 = Instant::now();
            safety::set_persistence_all(pool, &to_log, true).await?;
            lines.push(format!(
                "{}: LOGGED ({:.1} s, one transaction)",
                to_log.join(", "),
                t0.elapsed().as_secs_f64()
            ));
        }
        Ok(())
    }

    /// Restart-only settings: whichever journaled setting still waits for a restart, this run's or one a killed
    /// restore left (its file value is back, the server still runs the relaxed one). Returns whether it restarted.
    async fn restart_waiting(&self, only: Option<Level>, superuser: bool, report: &mut RestoreReport) -> Result<bool> {
        let pool = &self.pool;
        let journaled: Vec<String> = safety::first_setting_values(pool)
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| only.is_none_or(|l| level_of_setting(name) == Some(l)))
            .collect();
        let waiting: Vec<String> = crate::database::status::settings(pool)
            .await?
            .into_iter()
            .filter(|s| s.pending_restart && journaled.contains(&s.name))
            .map(|s| s.name)
            .collect();
        if superuser && !waiting.is_empty() {
            self.transition_step(&format!("restart the server for {}", waiting.join(", ")))
                .await;
            let mut ar = ApplyReport {
                level: Level::Ludicrous,
                lines: Vec::new(),
                pending_restart: Vec::new(),
                restarted: false,
            };
            self.restart_for(&mut ar).await?;
            report.lines.append(&mut ar.lines);
            report.pending_restart = ar.pending_restart;
            return Ok(ar.restarted);
        }
        Ok(false)
    }

    /// The check list: each journaled setting against pg_settings, each library table against pg_class.
    async fn verify(&self, only: Option<Level>) -> Result<Vec<Check>> {
        let pool = &self.pool;
        let mut checks = Vec::new();
        let first_old: HashMap<String, Option<String>> =
            safety::first_setting_values(pool).await?.into_iter().collect();
        let mut names: Vec<&String> = first_old.keys().collect();
        names.sort();
        for name in names {
            if only.is_some_and(|l| level_of_setting(name) != Some(l)) {
                continue;
            }
            let (_, expected) = old_value_of(&first_old[name]);
            let live = safety::live_setting(pool, name).await?;
            let (actual, mut pending) = live.map(|l| (l.value, l.pending_restart)).unwrap_or_default();
            // PostgreSQL may keep the pending flag of a restart-only setting whose file value went back to the
            // value in force; what is configured then matches what is active, and nothing waits.
            let configured = if pending {
                safety::configured_value(pool, name).await.ok().flatten()
            } else {
                None
            };
            if pending && configured.is_none_or(|c| plan::same_value(&c, &expected)) {
                pending = false;
            }
            checks.push(Check {
                what: format!("setting {name}"),
                ok: plan::same_value(&actual, &expected) && !pending,
                expected,
                actual: if pending {
                    format!("{actual} (pending restart)")
                } else {
                    actual
                },
            });
        }
        if only.is_none() || only == Some(Level::Ludicrous) {
            for t in UNLOGGED_ORDER {
                let actual = safety::persistence(pool, t).await?.unwrap_or_else(|| "missing".into());
                checks.push(Check {
                    what: format!("table {t}"),
                    expected: "logged".into(),
                    ok: actual == "logged",
                    actual,
                });
            }
        }
        Ok(checks)
    }

    /// Recreate every missing secondary index on `jobs` connections at once, then ANALYZE and verify. Refused while
    /// an import runs.
    pub async fn rebuild_indexes(
        &self,
        jobs: usize,
        progress: Option<UnboundedSender<RebuildEvent>>,
    ) -> Result<RebuildReport> {
        let _turn = self.take_turn("rebuild-indexes").await?;
        self.rebuild_indexes_now(jobs, progress).await
    }

    /// [`Engine::rebuild_indexes`] for a caller that holds the library already (an import after its run).
    pub(crate) async fn rebuild_indexes_now(
        &self,
        jobs: usize,
        progress: Option<UnboundedSender<RebuildEvent>>,
    ) -> Result<RebuildReport> {
        let t = self.bounded(self.begin_transition("rebuild-indexes")).await?;
        let r = self.bounded(self.rebuild_indexes_inner(jobs, progress)).await;
        // Finished once every index is there: a rebuild that left some missing is to be run again.
        let complete = r.as_ref().is_ok_and(|r| r.present == r.expected);
        self.end_transition(t, complete, &["rebuild-indexes"]).await;
        r
    }

    async fn rebuild_indexes_inner(
        &self,
        jobs: usize,
        progress: Option<UnboundedSender<RebuildEvent>>,
    ) -> Result<RebuildReport> {
        let pool = &self.pool;
        let t0 = Instant::now();
        // Before the search_rows indexes exist: the re-sync then writes the heap alone.
        self.prove_deferred_checks().await?;
        let present = indexes::present(pool).await?;
        // The catalog is the source of truth (the backups hold the same definitions, for a by-hand restore).
        let mut todo: Vec<&'static SecondaryIndex> = indexes::catalog()
            .iter()
            .filter(|i| !present.contains(&i.name))
            .collect();
        // Slowest first (GIN), so the parallel jobs finish together.
        todo.sort_by_key(|i| if i.definition.contains("gin") { 0 } else { 1 });
        self.transition_step(&format!("build {} indexes", todo.len())).await;
        let jobs = jobs.clamp(1, 16).min(todo.len().max(1));
        let per_job_mem = self.maintenance_mem_per_job(jobs).await?;
        let queue = std::sync::Arc::new(tokio::sync::Mutex::new(todo.into_iter()));
        let mut tasks = Vec::new();
        for _ in 0..jobs {
            let (pool, queue, progress, mem) = (pool.clone(), queue.clone(), progress.clone(), per_job_mem.clone());
            tasks.push(tokio::spawn(async move {
                match BuildConnection::open(&pool, &mem).await {
                    Ok(conn) => build_job(conn, &queue, progress.as_ref()).await,
                    Err(e) => (Vec::new(), vec![("(connection)".to_string(), sql_message(&e))]),
                }
            }));
        }
        let mut report = RebuildReport {
            expected: indexes::catalog().len(),
            ..Default::default()
        };
        for t in tasks {
            if let Ok((mut b, mut f)) = t.await {
                report.built.append(&mut b);
                report.failed.append(&mut f);
            }
        }
        // Builds that failed may mean the server is gone: then say so now, rather than after the pool's wait for
        // a connection (twice: the step's note and ANALYZE). The transition stays unfinished for `status`.
        if !report.failed.is_empty() && !self.reachable().await {
            return Err(ProfileError::Db(DbError::Connect(format!(
                "the server cannot be reached: {} of {} indexes were not built; run `midi-tui rebuild-indexes` \
                 again once it is back",
                report.failed.len(),
                report.failed.len() + report.built.len()
            ))));
        }
        if let Some(p) = &progress {
            let _ = p.send(RebuildEvent::Analyzing);
        }
        self.transition_step("ANALYZE").await;
        safety::analyze(pool).await?;
        let now_present = indexes::present(pool).await?;
        report.present = now_present.len();
        for e in safety::unrestored(pool).await? {
            if e.kind == JournalKind::Index && now_present.contains(&e.target) {
                safety::mark_restored_all(pool, &[e.id]).await?;
            }
        }
        report.seconds = t0.elapsed().as_secs_f64();
        if let Some(p) = &progress {
            let _ = p.send(RebuildEvent::Done(report.clone()));
        }
        Ok(report)
    }

    /// What fast writers skipped (foreign-key checks, the search_rows trigger), proven set-based and journaled as
    /// restored; the report's lines say what was repaired. Nothing when no writer deferred anything.
    async fn prove_deferred_checks(&self) -> Result<Vec<String>> {
        let t0 = Instant::now();
        let Some(p) = deferred::prove(&self.pool).await? else {
            return Ok(Vec::new());
        };
        let mut lines = vec![format!(
            "foreign keys proven and search rows re-synced ({} written, {} removed) in {:.1} s",
            p.search_rows,
            p.search_rows_removed,
            t0.elapsed().as_secs_f64()
        )];
        lines.extend(p.repaired.iter().map(|(what, n)| format!("repaired {n} {what}")));
        Ok(lines)
    }

    /// Share the machine's maintenance memory between parallel index builds.
    async fn maintenance_mem_per_job(&self, jobs: usize) -> Result<String> {
        let total = plan::settings(Level::Basic, Machine::this())
            .into_iter()
            .find(|t| t.name == "maintenance_work_mem")
            .and_then(|t| plan::parse_bytes(&t.value, 1))
            .unwrap_or(256 << 20);
        Ok(format!("{}MB", (total / jobs as u64 / (1 << 20)).max(64)))
    }
}

type BuildQueue = tokio::sync::Mutex<std::vec::IntoIter<&'static SecondaryIndex>>;
/// Indexes built (name, seconds) and failed (name, error) by one job.
type JobOutcome = (Vec<(String, f64)>, Vec<(String, String)>);

/// One parallel rebuild job: on its own connection, it takes indexes from the shared queue until it is empty.
async fn build_job(
    mut conn: BuildConnection,
    queue: &BuildQueue,
    progress: Option<&UnboundedSender<RebuildEvent>>,
) -> JobOutcome {
    let send = |e: RebuildEvent| {
        if let Some(p) = progress {
            let _ = p.send(e);
        }
    };
    let mut built = Vec::new();
    let mut failed = Vec::new();
    loop {
        let next = queue.lock().await.next();
        let Some(index) = next else { break };
        send(RebuildEvent::Started {
            name: index.name.clone(),
            table: index.table.clone(),
        });
        let t = Instant::now();
        match conn.build(index).await {
            Ok(()) => {
                let seconds = t.elapsed().as_secs_f64();
                send(RebuildEvent::Finished {
                    name: index.name.clone(),
                    seconds,
                });
                built.push((index.name.clone(), seconds));
            }
            Err(e) => {
                let error = sql_message(&e);
                send(RebuildEvent::Failed {
                    name: index.name.clone(),
                    error: error.clone(),
                });
                failed.push((index.name.clone(), error));
            }
        }
    }
    conn.close().await;
    (built, failed)
}

/// The server's own words for a failed statement, without the "database error:" wrapper the rebuild report
/// never carried.
fn sql_message(e: &DbError) -> String {
    match e {
        DbError::Sql(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// The backed-up definitions as a psql script, on disk (synced) before the first index is dropped.
fn write_index_backup(dir: &Path, path: &Path, all: &[(String, String, String)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut f = std::fs::File::create(path)?;
    writeln!(
        f,
        "-- midi-tui secondary index backup; run with psql -v ON_ERROR_STOP=1 -f INDEX_BACKUP.sql"
    )?;
    for (name, table, def) in all {
        writeln!(
            f,
            "-- {name} on {table}\n{};",
            def.replacen("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
        )?;
    }
    f.sync_all()
}
