//! `extract`: unpack archives to a folder, keeping structure, safely.
