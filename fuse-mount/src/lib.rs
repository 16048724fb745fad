//! `cairn mount` arrives with its own issue; the crate exists so the workspace layout is in place.
