//! Profile planning: the settings each level sets, scaled to the machine's memory and cores (pure, tested).

use super::Level;

/// The machine a plan is for.
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    pub memory_bytes: u64,
    pub cores: usize,
}

impl Machine {
    pub fn this() -> Self {
        Self {
            memory_bytes: crate::machine::total_memory_bytes(),
            cores: crate::machine::cores(),
        }
    }
}

/// One setting a level sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: &'static str,
    pub value: String,
}

/// The library tables a level-3 profile turns UNLOGGED, in an order the foreign keys allow: a logged table may not
/// reference an unlogged one, so the referencing tables go first; back to LOGGED in the reverse order.
pub const UNLOGGED_ORDER: &[&str] = &["musical_metadata", "file_locations", "archive_progress", "files"];

const MB: u64 = 1024 * 1024;

fn mb(bytes: u64) -> String {
    format!("{}MB", bytes / MB)
}

/// The `max_wal_size` level 1 sets on a machine with this memory: a sixth of it, within 1..16 GB.
pub fn basic_max_wal_size(mem: u64) -> u64 {
    (mem / 6).clamp(1024 * MB, 16384 * MB)
}

/// The settings of a level for a machine. Level 2 sets none (it drops indexes).
pub fn settings(level: Level, m: Machine) -> Vec<Target> {
    let mem = m.memory_bytes;
    let t = |name, value: String| Target { name, value };
    match level {
        // The reference's 2 GB / 256 MB / 4 GB / 16 MB suit a 64 GB box; here the same shares of this machine.
        Level::Basic => vec![
            t("synchronous_commit", "off".into()),
            t("maintenance_work_mem", mb((mem / 16).clamp(64 * MB, 2048 * MB))),
            t("work_mem", mb((mem / 256).clamp(4 * MB, 256 * MB))),
            t("max_wal_size", mb(basic_max_wal_size(mem))),
            // Past 16 MB (the reference value) WAL buffers rarely help, and a change needs a restart.
            t("wal_buffers", mb((mem / 1024).clamp(4 * MB, 16 * MB))),
        ],
        Level::DropIndexes => Vec::new(),
        Level::Ludicrous => {
            let workers = m.cores.clamp(1, 64).to_string();
            vec![
                t("fsync", "off".into()),
                t("full_page_writes", "off".into()),
                // Senders off before the level goes down (restore puts them back in reverse order): the server
                // refuses to start with senders and wal_level minimal, and a kill may land between the two.
                t("max_wal_senders", "0".into()),
                t("wal_level", "minimal".into()),
                t("autovacuum", "off".into()),
                t("max_parallel_workers", workers.clone()),
                t(
                    "max_parallel_maintenance_workers",
                    (m.cores / 2).clamp(1, 32).to_string(),
                ),
            ]
        }
    }
}

/// Parse a PostgreSQL memory value ("64MB", "1GB", "8kB", or a bare number in `unit_bytes`) into bytes.
pub fn parse_bytes(value: &str, unit_bytes: u64) -> Option<u64> {
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" => unit_bytes,
        "B" => 1,
        "kB" => 1024,
        "MB" => MB,
        "GB" => 1024 * MB,
        "TB" => 1024 * 1024 * MB,
        _ => return None,
    };
    Some(n * mult)
}

/// Do two setting values mean the same thing? ("1GB" == "1024MB", "on" == "true").
pub fn same_value(a: &str, b: &str) -> bool {
    let norm = |s: &str| match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => "on".to_string(),
        "off" | "false" | "no" | "0" => "off".to_string(),
        other => other.to_string(),
    };
    if norm(a) == norm(b) {
        return true;
    }
    matches!((parse_bytes(a, 1), parse_bytes(b, 1)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1024 * MB;

    fn value(level: Level, m: Machine, name: &str) -> String {
        settings(level, m).into_iter().find(|t| t.name == name).unwrap().value
    }

    #[test]
    fn basic_scales_with_memory() {
        let small = Machine {
            memory_bytes: 4 * GB,
            cores: 2,
        };
        let ours = Machine {
            memory_bytes: 24 * GB,
            cores: 2,
        };
        let big = Machine {
            memory_bytes: 256 * GB,
            cores: 64,
        };
        assert_eq!(value(Level::Basic, small, "maintenance_work_mem"), "256MB");
        assert_eq!(value(Level::Basic, ours, "maintenance_work_mem"), "1536MB");
        assert_eq!(
            value(Level::Basic, big, "maintenance_work_mem"),
            "2048MB",
            "capped like the reference"
        );
        assert_eq!(value(Level::Basic, small, "work_mem"), "16MB");
        assert_eq!(value(Level::Basic, ours, "work_mem"), "96MB");
        assert_eq!(value(Level::Basic, big, "work_mem"), "256MB");
        assert_eq!(value(Level::Basic, small, "max_wal_size"), "1024MB");
        assert_eq!(value(Level::Basic, ours, "max_wal_size"), "4096MB");
        assert_eq!(value(Level::Basic, ours, "wal_buffers"), "16MB");
        assert_eq!(value(Level::Basic, ours, "synchronous_commit"), "off");
    }

    #[test]
    fn ludicrous_sizes_parallel_workers_to_cores_and_turns_safety_off() {
        let m = Machine {
            memory_bytes: 24 * GB,
            cores: 2,
        };
        assert_eq!(value(Level::Ludicrous, m, "max_parallel_workers"), "2");
        assert_eq!(value(Level::Ludicrous, m, "max_parallel_maintenance_workers"), "1");
        assert_eq!(value(Level::Ludicrous, m, "fsync"), "off");
        assert_eq!(value(Level::Ludicrous, m, "wal_level"), "minimal");
        assert_eq!(
            value(Level::Ludicrous, m, "max_wal_senders"),
            "0",
            "minimal WAL needs no WAL senders"
        );
        assert!(settings(Level::DropIndexes, m).is_empty());
        // Applied in this order and restored in reverse: every state a kill can leave between two settings starts
        // (senders with wal_level minimal would not).
        let names: Vec<&str> = settings(Level::Ludicrous, m).iter().map(|t| t.name).collect();
        let pos = |n| names.iter().position(|x| *x == n).unwrap();
        assert!(pos("max_wal_senders") < pos("wal_level"), "{names:?}");
    }

    #[test]
    fn unlogged_order_puts_referencing_tables_first() {
        let pos = |t| UNLOGGED_ORDER.iter().position(|x| *x == t).unwrap();
        assert!(pos("musical_metadata") < pos("files"));
        assert!(pos("file_locations") < pos("files"));
    }

    #[test]
    fn values_compare_by_meaning() {
        assert!(same_value("1GB", "1024MB"));
        assert!(same_value("on", "true"));
        assert!(!same_value("on", "off"));
        assert!(!same_value("64MB", "128MB"));
        assert_eq!(parse_bytes("8kB", 1), Some(8192));
        assert_eq!(parse_bytes("2", 8192), Some(16384));
    }
}
