//! `cairn check` (being written).
