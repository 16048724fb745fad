//! `cairn backup` (being written).
