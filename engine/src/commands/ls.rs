//! `cairn ls` (being written).
