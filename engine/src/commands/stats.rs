//! `cairn stats` (being written).
