//! Run control: the import plan both front ends drive, the engine handle, turns on the library, pending run
//! statuses and the crash check at every start.
pub mod backup;
pub mod crash_check;
pub mod levels;
pub mod pending;
pub mod plan;
pub mod session;
pub mod turn_slot;
pub mod turns;
