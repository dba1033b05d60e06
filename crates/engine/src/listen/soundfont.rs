//! Finding a General MIDI SoundFont on the system (never downloaded), and loading it once per process.
//!
//! Order: the path given (`--soundfont`), else `MIDI_TUI_SOUNDFONT`, else the usual places: the user's
//! `~/.local/share/soundfonts` and `~/.sounds`, Debian's `default-GM.sf2` alternative, `FluidR3_GM.sf2`
//! (fluid-soundfont-gm) and `TimGM6mb.sf2` (timgm6mb-soundfont) under `/usr/share/sounds/sf2`, Fedora's and Arch's
//! `/usr/share/soundfonts`, then any other `.sf2` in those folders. A path that was given and cannot be used is an
//! error, never passed over for another.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustysynth::SoundFont;

/// The environment variable naming a SoundFont.
pub const ENV_SOUNDFONT: &str = "MIDI_TUI_SOUNDFONT";

/// Where a SoundFont came from, as the screen names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FontOrigin {
    Option,
    Environment,
    System,
}

/// A SoundFont file found, not yet loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFont {
    pub path: PathBuf,
    pub origin: FontOrigin,
}

impl FoundFont {
    /// The file name, for one line on screen.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned())
    }
}

/// Why no SoundFont can be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FontError {
    #[error(
        "no SoundFont found (looked in {}); install one (Debian: apt install timgm6mb-soundfont) or give --soundfont FILE.sf2",
        looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound { looked: Vec<PathBuf> },
    #[error("SoundFont {path} ({origin}): {reason}")]
    Unusable {
        path: PathBuf,
        origin: &'static str,
        reason: String,
    },
}

fn origin_text(o: FontOrigin) -> &'static str {
    match o {
        FontOrigin::Option => "given with --soundfont",
        FontOrigin::Environment => "from MIDI_TUI_SOUNDFONT",
        FontOrigin::System => "found on the system",
    }
}

/// The folders searched, in order, for this user.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(data) = dirs::data_dir() {
        dirs.push(data.join("soundfonts"));
    }
    if let Some(home) = dirs::home_dir() {
        dirs.push(home.join(".sounds"));
    }
    for d in [
        "/usr/share/sounds/sf2",
        "/usr/share/soundfonts",
        "/usr/local/share/soundfonts",
        "/usr/share/sounds/sf3",
        "/opt/homebrew/share/soundfonts",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// Names preferred in each folder, best first: the system's chosen default, then the two GM fonts Debian ships.
const PREFERRED: [&str; 5] = [
    "default-GM.sf2",
    "default.sf2",
    "FluidR3_GM.sf2",
    "FluidR3_GM2-2.sf2",
    "TimGM6mb.sf2",
];

/// The first usable candidate in `dirs`: a preferred name in any folder first, then any other `.sf2`, by name.
pub fn find_in(dirs: &[PathBuf]) -> Option<PathBuf> {
    for name in PREFERRED {
        for d in dirs {
            let p = d.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else { continue };
        let mut found: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("sf2")) && p.is_file())
            .collect();
        found.sort();
        if let Some(p) = found.into_iter().next() {
            return Some(p);
        }
    }
    None
}

/// The SoundFont to use: `given`, else the environment's, else the system's.
pub fn find_soundfont(given: Option<&Path>) -> Result<FoundFont, FontError> {
    find_soundfont_with(
        given,
        std::env::var_os(ENV_SOUNDFONT).map(PathBuf::from),
        &search_dirs(),
    )
}

/// [`find_soundfont`] with the environment and the folders passed in (tests).
pub fn find_soundfont_with(
    given: Option<&Path>,
    env: Option<PathBuf>,
    dirs: &[PathBuf],
) -> Result<FoundFont, FontError> {
    let explicit = match (given, env) {
        (Some(p), _) => Some((p.to_path_buf(), FontOrigin::Option)),
        (None, Some(p)) if !p.as_os_str().is_empty() => Some((p, FontOrigin::Environment)),
        _ => None,
    };
    if let Some((path, origin)) = explicit {
        if !path.is_file() {
            return Err(FontError::Unusable {
                reason: if path.exists() {
                    "not a file".into()
                } else {
                    "no such file".into()
                },
                path,
                origin: origin_text(origin),
            });
        }
        return Ok(FoundFont { path, origin });
    }
    match find_in(dirs) {
        Some(path) => Ok(FoundFont {
            path,
            origin: FontOrigin::System,
        }),
        None => Err(FontError::NotFound { looked: dirs.to_vec() }),
    }
}

/// SoundFonts loaded in this process, by path: a font is read once (a GM font is 6 to 140 MB).
static LOADED: Mutex<Option<HashMap<PathBuf, Arc<SoundFont>>>> = Mutex::new(None);

/// Load `font` (once per process). Compressed SF3 fonts are refused: the synthesizer reads 16-bit samples only.
pub fn load_soundfont(font: &FoundFont) -> Result<Arc<SoundFont>, FontError> {
    let unusable = |reason: String| FontError::Unusable {
        path: font.path.clone(),
        origin: origin_text(font.origin),
        reason,
    };
    let key = std::fs::canonicalize(&font.path).unwrap_or_else(|_| font.path.clone());
    if let Some(sf) = LOADED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(&key))
    {
        return Ok(sf.clone());
    }
    let file = std::fs::File::open(&font.path).map_err(|e| unusable(e.to_string()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let sf = SoundFont::new(&mut reader).map_err(|e| unusable(format!("not a readable SoundFont 2 file: {e}")))?;
    // SF3 marks Ogg-compressed samples with bit 0x10 of the sample type.
    if sf.get_sample_headers().iter().any(|h| h.get_sample_type() & 0x10 != 0) {
        return Err(unusable(
            "compressed (SF3) samples are not supported by the built-in synthesizer: use an .sf2".into(),
        ));
    }
    if sf.get_presets().is_empty() {
        return Err(unusable("it holds no instrument preset".into()));
    }
    let sf = Arc::new(sf);
    LOADED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key, sf.clone());
    Ok(sf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_path_wins_and_a_missing_one_is_an_error_not_a_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("sys");
        std::fs::create_dir(&sys).unwrap();
        std::fs::write(sys.join("TimGM6mb.sf2"), b"x").unwrap();
        std::fs::write(sys.join("aaa.sf2"), b"x").unwrap();
        let mine = dir.path().join("mine.sf2");
        std::fs::write(&mine, b"x").unwrap();
        let dirs = vec![dir.path().join("nothing here"), sys.clone()];

        let f = find_soundfont_with(Some(&mine), Some(sys.join("aaa.sf2")), &dirs).unwrap();
        assert_eq!((f.path.clone(), f.origin), (mine.clone(), FontOrigin::Option));
        let f = find_soundfont_with(None, Some(sys.join("aaa.sf2")), &dirs).unwrap();
        assert_eq!(f.origin, FontOrigin::Environment);
        let f = find_soundfont_with(None, None, &dirs).unwrap();
        assert_eq!(
            f.path,
            sys.join("TimGM6mb.sf2"),
            "a GM font by its known name before any other .sf2"
        );
        assert_eq!(f.origin, FontOrigin::System);

        let missing = dir.path().join("gone.sf2");
        let e = find_soundfont_with(Some(&missing), None, &dirs).unwrap_err();
        assert!(
            e.to_string().contains("gone.sf2") && e.to_string().contains("--soundfont"),
            "{e}"
        );
        let e = find_soundfont_with(None, Some(missing), &dirs).unwrap_err();
        assert!(e.to_string().contains("MIDI_TUI_SOUNDFONT"), "{e}");

        std::fs::remove_file(sys.join("TimGM6mb.sf2")).unwrap();
        assert_eq!(
            find_soundfont_with(None, None, &dirs).unwrap().path,
            sys.join("aaa.sf2")
        );
        let e = find_soundfont_with(None, None, &dirs[..1]).unwrap_err();
        assert!(
            e.to_string().contains("nothing here") && e.to_string().contains("timgm6mb-soundfont"),
            "{e}"
        );
    }

    #[test]
    fn a_file_that_is_no_soundfont_is_refused_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.sf2");
        std::fs::write(&bad, b"RIFF\0\0\0\0WAVE").unwrap();
        let e = load_soundfont(&FoundFont {
            path: bad,
            origin: FontOrigin::Option,
        })
        .unwrap_err();
        assert!(e.to_string().contains("not a readable SoundFont"), "{e}");
    }
}
