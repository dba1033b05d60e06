-- The 39 secondary indexes: the one place they are declared. The profile code lists, backs up, drops and
-- rebuilds exactly these (src/database/indexes.rs parses this file); primary keys and the UNIQUE constraints on
-- files.content_hash and file_locations.path are essential and never listed here.
-- Format: a `-- serves:` line naming the browser query, then one CREATE INDEX statement on one line.

-- serves: search by file name fragment (ILIKE '%bass%')
CREATE INDEX IF NOT EXISTS files_filename_trgm_idx ON files USING gin (filename gin_trgm_ops);
-- serves: exact name lookup and sort by name
CREATE INDEX IF NOT EXISTS files_filename_idx ON files (filename);
-- serves: case-insensitive name lookup (lower(filename) = ...)
CREATE INDEX IF NOT EXISTS files_filename_lower_idx ON files (lower(filename));
-- serves: browse by path prefix (filepath LIKE 'Drums/%')
CREATE INDEX IF NOT EXISTS files_filepath_prefix_idx ON files (filepath text_pattern_ops);
-- serves: list one folder
CREATE INDEX IF NOT EXISTS files_parent_folder_idx ON files (parent_folder);
-- serves: search folder names by fragment
CREATE INDEX IF NOT EXISTS files_parent_folder_trgm_idx ON files USING gin (parent_folder gin_trgm_ops);
-- serves: list one collection (top folder or archive)
CREATE INDEX IF NOT EXISTS files_collection_idx ON files (collection);
-- serves: folder tree of a collection
CREATE INDEX IF NOT EXISTS files_collection_folder_idx ON files (collection, parent_folder);
-- serves: newest files of a collection
CREATE INDEX IF NOT EXISTS files_collection_created_idx ON files (collection, created_at DESC);
-- serves: longest/shortest files of a collection
CREATE INDEX IF NOT EXISTS files_collection_duration_idx ON files (collection, duration_seconds);
-- serves: tempo from the file name (Cm_120bpm)
CREATE INDEX IF NOT EXISTS files_filename_bpm_idx ON files (filename_bpm) WHERE filename_bpm IS NOT NULL;
-- serves: key from the file name
CREATE INDEX IF NOT EXISTS files_filename_key_idx ON files (filename_key) WHERE filename_key IS NOT NULL;
-- serves: tempo and key from the file name together
CREATE INDEX IF NOT EXISTS files_filename_bpm_key_idx ON files (filename_key, filename_bpm) WHERE filename_key IS NOT NULL;
-- serves: filter by SMF format (0, 1, 2)
CREATE INDEX IF NOT EXISTS files_format_idx ON files (format);
-- serves: filter by track count
CREATE INDEX IF NOT EXISTS files_num_tracks_idx ON files (num_tracks);
-- serves: format and track count together (single-track loops)
CREATE INDEX IF NOT EXISTS files_format_tracks_idx ON files (format, num_tracks);
-- serves: filter by resolution (ticks per quarter note)
CREATE INDEX IF NOT EXISTS files_tpqn_idx ON files (ticks_per_quarter_note);
-- serves: SMPTE-timed files
CREATE INDEX IF NOT EXISTS files_smpte_idx ON files (id) WHERE ticks_per_quarter_note IS NULL;
-- serves: filter and sort by length in seconds
CREATE INDEX IF NOT EXISTS files_duration_seconds_idx ON files (duration_seconds);
-- serves: filter by length in ticks (bars of a loop)
CREATE INDEX IF NOT EXISTS files_duration_ticks_idx ON files (duration_ticks);
-- serves: filter and sort by file size
CREATE INDEX IF NOT EXISTS files_size_idx ON files (file_size_bytes);
-- serves: files with a given track name (track_names @> ARRAY['Bass'])
CREATE INDEX IF NOT EXISTS files_track_names_idx ON files USING gin (track_names);
-- serves: search copyright text
CREATE INDEX IF NOT EXISTS files_copyright_trgm_idx ON files USING gin (copyright gin_trgm_ops) WHERE copyright IS NOT NULL;
-- serves: what one import run added
CREATE INDEX IF NOT EXISTS files_import_run_idx ON files (import_run_id);
-- serves: recently added
CREATE INDEX IF NOT EXISTS files_created_at_idx ON files (created_at);
-- serves: filter by first tempo
CREATE INDEX IF NOT EXISTS musical_metadata_bpm_idx ON musical_metadata (bpm);
-- serves: filter by average tempo
CREATE INDEX IF NOT EXISTS musical_metadata_avg_bpm_idx ON musical_metadata (avg_bpm);
-- serves: files with tempo changes
CREATE INDEX IF NOT EXISTS musical_metadata_tempo_changes_idx ON musical_metadata (tempo_changes) WHERE tempo_changes > 1;
-- serves: filter by time signature (3/4, 6/8)
CREATE INDEX IF NOT EXISTS musical_metadata_time_signature_idx ON musical_metadata (time_signature_numerator, time_signature_denominator);
-- serves: filter by key signature meta event
CREATE INDEX IF NOT EXISTS musical_metadata_key_signature_idx ON musical_metadata (key_signature);
-- serves: filter by detected key, most confident first
CREATE INDEX IF NOT EXISTS musical_metadata_detected_key_idx ON musical_metadata (detected_key, key_confidence DESC);
-- serves: filter by note count
CREATE INDEX IF NOT EXISTS musical_metadata_total_notes_idx ON musical_metadata (total_notes);
-- serves: filter by pitch range (bass lines, high leads)
CREATE INDEX IF NOT EXISTS musical_metadata_pitch_range_idx ON musical_metadata (pitch_range_min, pitch_range_max);
-- serves: filter by note density (busy vs sparse)
CREATE INDEX IF NOT EXISTS musical_metadata_note_density_idx ON musical_metadata (note_density);
-- serves: filter by polyphony (chords vs monophonic lines)
CREATE INDEX IF NOT EXISTS musical_metadata_polyphony_idx ON musical_metadata (polyphony_max);
-- serves: files using a General MIDI program (programs @> '{33}')
CREATE INDEX IF NOT EXISTS musical_metadata_programs_idx ON musical_metadata USING gin (programs);
-- serves: files using a channel
CREATE INDEX IF NOT EXISTS musical_metadata_channels_idx ON musical_metadata USING gin (channels);
-- serves: drum files
CREATE INDEX IF NOT EXISTS musical_metadata_has_drums_idx ON musical_metadata (file_id) WHERE has_drums;
-- serves: karaoke files
CREATE INDEX IF NOT EXISTS musical_metadata_karaoke_idx ON musical_metadata (file_id) WHERE is_karaoke;
