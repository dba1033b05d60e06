//! midi-tui: the engine (no UI) and the two front ends, console and headless CLI.
pub mod cli;
pub mod console;
pub mod database;
pub mod engine;
