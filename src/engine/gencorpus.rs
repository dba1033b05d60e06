//! `gen-corpus`: deterministic, realistic synthetic MIDI libraries for benchmarks.
