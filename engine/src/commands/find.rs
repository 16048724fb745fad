//! `cairn find` (being written).
