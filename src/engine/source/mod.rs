//! Sources: folders, MIDI files and archives (nested), walked and streamed in memory.
