//! `cairn diff` (being written).
