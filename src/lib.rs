//! midi-tui: the two front ends, the console and the headless command line, over the engine crate.
pub mod cli;
pub mod console;
pub mod listen;

/// The engine under the names the front ends and tests have always used.
pub use midi_tui_engine as engine;
pub use midi_tui_engine::database;
